"""nail-os: NAIL-style learned sparse retrieval for OpenSearch.

Public names only; nothing here imports torch. Encoding lives in `nail_os.model` (pip install
'nail-os[encode]'), the local node in `nail_os.server`.
"""

from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import Record, read_corpus, read_qrels, read_queries
from nail_os.encoders import SparseEncoder, load_encoder
from nail_os.errors import NailOSError
from nail_os.features import from_feature_name, to_feature_name
from nail_os.ingest import IngestOptions, IngestReport, IngestResult, ingest, ingest_source, streaming_ingest
from nail_os.mapping import add_nail_field, create_index, index_body
from nail_os.queries import QueryOptions, build_query
from nail_os.registry import default_model, resolve_model_dir
from nail_os.search import Hit, search
from nail_os.tokens import Tokenizer

__all__ = [
    "ClusterConfig", "Hit", "IngestOptions", "IngestReport", "IngestResult", "NailOSError", "QueryOptions", "Record",
    "SparseEncoder", "Tokenizer", "add_nail_field", "build_query", "create_index", "default_model",
    "from_feature_name", "index_body", "ingest", "ingest_source", "load_encoder", "make_client", "read_corpus",
    "read_qrels", "read_queries", "resolve_model_dir", "search", "streaming_ingest", "to_feature_name",
]
__version__ = "0.1.0"
