"""Data for rnnkit: vocabularies, readers, padding and bucketing, windowing, streaming, built-in datasets.

Nothing here downloads anything. Optional packages (sktime, statsmodels, pandas, pyarrow) are
imported only when a feature that needs them is used.
"""

from rnnkit.data.batching import BucketBatchSampler, bucket_batches, lengths_to_mask, pad_sequences, validation_split
from rnnkit.data.dataset import Dataset, DatasetInfo, SequenceSet
from rnnkit.data.dates import DATE_FORMATS, date_translation, format_date
from rnnkit.data.deps import MissingDependencyError
from rnnkit.data.files import DataError, DataFileNotFoundError, DataFileUnreadableError
from rnnkit.data.readers_series import TimeSeries, read_time_series
from rnnkit.data.readers_text import (LabeledTexts, TaggedSentences, TextPairs, read_conll, read_sentence_pairs,
                                      read_text, read_text_classification, read_texts)
from rnnkit.data.registry import dataset_info, list_datasets, load_dataset
from rnnkit.data.streaming import ChunkStream, StreamChunk, batchify, stream_sequences, stream_tensor
from rnnkit.data.streaming_csv import stream_csv_file, stream_csv_files
from rnnkit.data.streaming_files import iter_text_blocks, stream_text_file, stream_text_files
from rnnkit.data.synthetic import adding_problem, copy_memory, copy_memory_baseline
from rnnkit.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab, char_tokenize, get_tokenizer, word_tokenize
from rnnkit.data.windows import Scaler, Windows, holdout_windows, sliding_windows

__all__ = [
    "Vocab", "PAD", "UNK", "BOS", "EOS", "SPECIALS", "char_tokenize", "word_tokenize", "get_tokenizer",
    "pad_sequences", "lengths_to_mask", "bucket_batches", "BucketBatchSampler", "validation_split",
    "read_text_classification", "read_conll", "read_sentence_pairs", "read_text", "read_texts", "read_time_series",
    "LabeledTexts", "TaggedSentences", "TextPairs", "TimeSeries",
    "list_datasets", "load_dataset", "dataset_info", "Dataset", "DatasetInfo", "SequenceSet",
    "date_translation", "format_date", "DATE_FORMATS", "adding_problem", "copy_memory", "copy_memory_baseline",
    "sliding_windows", "holdout_windows", "Windows", "Scaler",
    "batchify", "stream_tensor", "stream_sequences", "stream_text_file", "stream_text_files", "iter_text_blocks",
    "stream_csv_file", "stream_csv_files",
    "StreamChunk", "ChunkStream",
    "DataError", "DataFileNotFoundError", "DataFileUnreadableError", "MissingDependencyError",
]
