"""PubMed, through NCBI's E-utilities: the papers that list the cited trials, the cited papers
themselves (retractions, errata, updates), and saved literature searches."""
