"""Neural session models (PyTorch): one module per model family, all behind `SessionModel`.

`common` holds what every neural model shares (device, seeding, the epoch loop with progress
lines and resumable checkpoints, safe weight files); `lstm` is the thesis' LSTM (section 3.3),
`gru4rec` is GRU4Rec as its authors specify it.
"""
