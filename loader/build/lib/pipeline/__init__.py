"""facecorpus core library: corpus, media, detection, alignment, stages, curation, runs,
validation, releases and the command line. Never imports prefect (``flows/`` does)."""
