"""facecorpus core library: corpus, sampling, detection, alignment, manifests. Never imports prefect."""
