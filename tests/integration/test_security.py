"""Security against a real TLS endpoint: https, basic auth, CA bundle and client certificate work; every wrong
setting fails with a message that says what to fix; credentials never reach stdout, stderr or a log record; and
query text cannot become query structure.

The endpoint is nginx (Debian package, `scripts/setup`) terminating TLS with basic auth in front of the session
node, with a CA and certificates made by `openssl` for this run only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nail_os.cli.main import main
from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import read_queries
from nail_os.ingest import IngestOptions, ingest
from nail_os.mapping import create_index
from nail_os.queries import QueryOptions
from nail_os.search import search

from ..conftest import ROOT
from .reliability_kit import encoded_corpus, record_row, write_jsonl
from .tls.certs import make_pki
from .tls.nginx import Nginx, install_nginx

pytestmark = pytest.mark.integration

USER = "nail"
SECRET = f"pw-{secrets.token_urlsafe(12)}"  # a fresh secret per run: any occurrence in output is a leak
LEAKS = (SECRET, base64.b64encode(f"{USER}:{SECRET}".encode()).decode())  # as typed, and in a Basic header


@pytest.fixture(scope="module")
def tls(node_url, tmp_path_factory):
    """(nginx, pki): https + basic auth on nginx.basic_port, https + client certificate on nginx.mtls_port."""
    try:
        binary = install_nginx()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder, USER, SECRET)
    proxy = Nginx(binary, folder, upstream=node_url.removeprefix("http://").rstrip("/"))
    yield proxy, pki
    proxy.stop()


@pytest.fixture(scope="module")
def small_corpus(data, tokenizer, tmp_path_factory):
    records = encoded_corpus(data / "scifact", tokenizer)[:200]
    return records, write_jsonl(records, tmp_path_factory.mktemp("corpus") / "small.jsonl")


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text, "a credential was printed"


def test_https_with_basic_auth_ingests_and_searches(tls, client, small_corpus, index_name, tmp_path, record_property):
    proxy, pki = tls
    records, source = small_corpus
    secure = ["--url", proxy.url(), "--user", USER, "--password", SECRET, "--ca-certs", pki.path("ca.pem")]
    runner = CliRunner()
    ingested = runner.invoke(main, [*secure, "ingest", str(source), "-i", index_name, "--model", "splade-tiny",
                                    "--rejects", str(tmp_path / "rejects.jsonl")],
                             env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert ingested.exit_code == 0, ingested.output
    assert client.count(index=index_name)["count"] == len(records)
    # The same, from the environment variables the CLI documents.
    env = {"NAIL_OS_URL": proxy.url(), "NAIL_OS_USER": USER, "NAIL_OS_PASSWORD": SECRET,
           "NAIL_OS_CA_CERTS": pki.path("ca.pem")}
    found = runner.invoke(main, ["search", records[0].title, "-i", index_name, "--model", "splade-tiny", "--json"],
                          env=env)
    assert found.exit_code == 0, found.output
    assert json.loads(found.output.splitlines()[0])["id"] == records[0].doc_id
    assert_no_secret(ingested.output, found.output)
    record_row(record_property, "https + basic auth + CA bundle (nginx TLS proxy)",
               "ingest and search work with options and with NAIL_OS_* variables; secret never printed", 0)


def failing_cases():
    yield "wrong password", "basic", ["--user", USER, "--password", "not-the-password", "--ca-certs", "ca.pem"], \
        "refused the credentials (HTTP 401): check --user/--password"
    yield "no credentials", "basic", ["--ca-certs", "ca.pem"], "refused the credentials (HTTP 401)"
    yield "plain http to the https port", "http", ["--user", USER, "--password", SECRET], \
        "The plain HTTP request was sent to HTTPS port. The endpoint speaks TLS: use an https:// URL"
    yield "certificate from another CA", "basic", \
        ["--user", USER, "--password", SECRET, "--ca-certs", "other-ca.pem"], \
        "certificate verify failed: unable to get local issuer certificate"
    yield "system CAs only", "basic", ["--user", USER, "--password", SECRET], "--ca-certs (env NAIL_OS_CA_CERTS)"
    yield "https to the plain node", "node", ["--user", USER, "--password", SECRET, "--insecure"], \
        "The endpoint does not speak TLS: use an http:// URL"
    yield "no client certificate", "mtls", ["--ca-certs", "ca.pem"], \
        "The endpoint wants a client certificate: give --client-cert and --client-key"
    yield "client key of another certificate", "mtls", ["--ca-certs", "ca.pem", "--client-cert", "client.pem",
                                                        "--client-key", "server.key"], "KEY_VALUES_MISMATCH"


@pytest.mark.parametrize(("case", "endpoint", "args", "message"), list(failing_cases()),
                         ids=[c[0] for c in failing_cases()])
def test_wrong_settings_fail_clearly(tls, node_url, case, endpoint, args, message, record_property):
    proxy, pki = tls
    url = {"basic": proxy.url(), "http": proxy.url("http"), "mtls": proxy.url(port=proxy.mtls_port),
           "node": node_url.replace("http://", "https://")}[endpoint]
    args = [pki.path(a) if a.endswith((".pem", ".key")) else a for a in args]
    result = CliRunner().invoke(main, ["--url", url, *args, "search", "coffee", "-i", "any", "--mode", "bm25"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output, result.output
    assert "Traceback" not in result.output
    assert_no_secret(result.output)
    record_row(record_property, f"security: {case}", f"exit 1: {result.output.strip()[7:140]}…", 0)


def test_insecure_and_client_certificate_connect(tls, index_name, client):
    proxy, pki = tls
    client.indices.create(index=index_name)
    runner = CliRunner()
    args = ["search", "coffee", "-i", index_name, "--mode", "bm25"]
    insecure = runner.invoke(main, ["--url", proxy.url(), "--user", USER, "--password", SECRET, "--insecure", *args])
    assert insecure.exit_code == 0, insecure.output
    mutual = runner.invoke(main, ["--url", proxy.url(port=proxy.mtls_port), "--ca-certs", pki.path("ca.pem"),
                                  "--client-cert", pki.path("client.pem"), "--client-key", pki.path("client.key"),
                                  *args])
    assert mutual.exit_code == 0, mutual.output


def test_credentials_never_printed_at_debug_level(tls, small_corpus, tmp_path, record_property):
    """`-vv` (debug logging) with the password in the URL and as an option, for ingest and search."""
    proxy, pki = tls
    _, source = small_corpus
    in_url = proxy.url().replace("https://", f"https://{USER}:{SECRET}@")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    outputs = []
    for url_args in (["--url", in_url], ["--url", proxy.url(), "--user", USER, "--password", SECRET]):
        base = [sys.executable, "-m", "nail_os", "-vv", *url_args, "--ca-certs", pki.path("ca.pem")]
        for command in (["ingest", str(source), "-i", "leak-check", "--model", "splade-tiny", "--no-resume",
                         "--rejects", str(tmp_path / "rejects.jsonl")],
                        ["search", "coffee", "-i", "leak-check", "--model", "splade-tiny"]):
            done = subprocess.run([*base, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            outputs += [done.stdout, done.stderr]
    assert any("DEBUG" in text for text in outputs), "-vv must log at debug level, or this test proves nothing"
    assert_no_secret(*outputs)
    make_client(ClusterConfig(url=in_url, ca_certs=pki.path("ca.pem"))).indices.delete(index="leak-check")
    record_row(record_property, "credentials at -vv (URL user:pass@ and --password)",
               "secret and its Basic-auth base64 absent from stdout, stderr; exit 0", 0)


def test_library_logs_never_hold_credentials(tls, small_corpus, tokenizer, caplog, index_name):
    """The library with every logger at DEBUG (ours, opensearch-py's, its trace logger and urllib3's)."""
    proxy, pki = tls
    records, _ = small_corpus
    for name in ("", "opensearch", "opensearchpy.trace", "urllib3", "nail_os"):
        caplog.set_level(logging.DEBUG, logger=name)
    config = ClusterConfig(url=proxy.url(), user=USER, password=SECRET, ca_certs=pki.path("ca.pem"))
    logging.getLogger("nail_os").debug("connecting with %r", config)
    secure = make_client(config)
    create_index(secure, index_name)
    ingest(secure, records[:20], IngestOptions(index=index_name, resume=False), tokenizer=tokenizer,
           show_progress=False)
    assert search(secure, index_name, records[0].title, tokenizer, QueryOptions(mode="hybrid"))
    assert len(caplog.records) > 5
    assert_no_secret(caplog.text, *(repr(r.args) for r in caplog.records))


def test_config_repr_hides_the_password():
    config = ClusterConfig(url=f"https://{USER}:{SECRET}@db.example:9200", user=USER, password=SECRET)
    assert_no_secret(repr(config), str(config))
    assert "https://db.example:9200" in repr(config) and "password=***" in repr(config)


# --- query text is data, never structure ---------------------------------------------------------------------

def test_bad_and_hostile_queries_against_the_real_node(client, small_corpus, tokenizer, index_name, record_property):
    """Every kept bad query, and a 10,000-token one, in every mode: HTTP 200 from the real node; the text that
    looks like a script or JSON changes nothing in the index."""
    records, _ = small_corpus
    create_index(client, index_name, keep_features_in_source=True)
    ingest(client, records, IngestOptions(index=index_name, resume=False), tokenizer=tokenizer, show_progress=False)
    before = client.get(index=index_name, id=records[0].doc_id)["_source"]
    queries = read_queries(ROOT / "tests" / "data" / "bad_inputs" / "queries.jsonl")
    words = [w for w in (tokenizer.id_to_token(i) for i in range(2000, tokenizer.vocab_size)) if w.isalpha()]
    queries["q-10000-tokens"] = " ".join(words[:10_000])
    hits: dict[tuple[str, str], int] = {}
    for query_id, text in queries.items():
        for mode in ("bm25", "nail", "hybrid"):
            hits[query_id, mode] = len(search(client, index_name, text, tokenizer, QueryOptions(mode=mode)))
    assert hits["q-empty", "hybrid"] == hits["q-unk-script", "nail"] == 0
    assert hits["q-10000-tokens", "hybrid"] > 0 and hits["q-punctuation", "nail"] > 0  # `.` and `,` are tokens
    assert client.get(index=index_name, id=records[0].doc_id)["_source"] == before
    client.indices.refresh(index=index_name)
    assert client.count(index=index_name)["count"] == len(records)
    record_row(record_property, "bad queries (empty, blank, punctuation, [UNK] scripts, control chars, JSON/script/"
               "mustache/Lucene syntax, 10,000 tokens) × bm25/nail/hybrid",
               f"{len(hits)} searches, all HTTP 200; no-token queries match nothing; 10,000 tokens pruned to the "
               f"clause limit; index unchanged", 0)
