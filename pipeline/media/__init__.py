"""Media: probing files, sampling specs, the ffmpeg runner, sparse-decoding plans, decoding ahead."""
