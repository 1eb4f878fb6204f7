"""Secret redaction: what must disappear, and the ordinary code that must stay readable.

Fake tokens are assembled from pieces so that no complete token-shaped string sits in the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from locoder.safety import filter_env, is_secret_field, is_secret_name, redact, redact_obj, secret_env_values

OPENAI = "sk-" + "proj-" + "Ab3dEf6hIj9kLmN0pQr2StUv4WxYz" * 2
OPENAI_CLASSIC = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
ANTHROPIC = "sk-" + "ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2" * 3
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0" + "a1B2c3D4e5F6g7H8i9J0" * 3
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
CONTEXT7 = "ctx7sk-" + "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8"
JWT = ("eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0."
       + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n" * 5
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "-----END RSA PRIVATE KEY-----"

ORDINARY_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/dev", "LANG": "en_US.UTF-8",
                "TERM": "xterm-256color", "SHELL": "/bin/bash", "PWD": "/home/dev/project",
                "TOKENIZERS_PARALLELISM": "false", "DATABASE_URL_READONLY": "postgres://db.internal/app"}


# --- known token formats ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        (OPENAI, "openai_key"),
        (OPENAI_CLASSIC, "openai_key"),
        (ANTHROPIC, "anthropic_key"),
        (GITHUB, "github_token"),
        ("gho_" + GITHUB[4:], "github_token"),
        ("ghu_" + GITHUB[4:], "github_token"),
        ("ghs_" + GITHUB[4:], "github_token"),
        ("ghr_" + GITHUB[4:], "github_token"),
        (GITHUB_PAT, "github_token"),
        (HF, "huggingface_token"),
        (AWS_ID, "aws_access_key_id"),
        ("ASIA" + "Y34FZKBOKMUTVV7A", "aws_access_key_id"),
        (SLACK, "slack_token"),
        (GOOGLE, "google_api_key"),
        (CONTEXT7, "context7_key"),
        (JWT, "jwt"),
    ],
)
def test_known_token_formats_are_redacted_in_prose(secret: str, kind: str) -> None:
    text = f"the value ({secret}) was printed by the tool"
    assert redact(text) == f"the value ([REDACTED:{kind}]) was printed by the tool"


def test_anthropic_key_is_not_reported_as_openai() -> None:
    assert redact(ANTHROPIC) == "[REDACTED:anthropic_key]"


def test_private_key_block_is_redacted_whole() -> None:
    text = f"$ cat id_rsa\n{PRIVATE_KEY}\n$ ls\n"
    assert redact(text) == "$ cat id_rsa\n[REDACTED:private_key]\n$ ls\n"


@pytest.mark.parametrize("label", ["OPENSSH", "EC", "ENCRYPTED", "DSA", ""])
def test_private_key_variants(label: str) -> None:
    begin, end = (f"-----{word} {label} PRIVATE KEY-----".replace("  ", " ") for word in ("BEGIN", "END"))
    assert redact(f"{begin}\n{PEM_BODY}{end}\n") == "[REDACTED:private_key]\n"


def test_private_key_cut_off_before_its_end_line_is_still_redacted() -> None:
    text = "$ head -4 key.pem\n-----BEGIN PRIVATE KEY-----\n" + PEM_BODY[:160]
    assert redact(text) == "$ head -4 key.pem\n[REDACTED:private_key]"


def test_private_key_in_a_json_service_account_file() -> None:
    escaped = PRIVATE_KEY.replace("\n", "\\n")
    text = '{"type": "service_account", "private_key": "' + escaped + '\\n", "client_email": "a@b.iam"}'
    assert redact(text) == ('{"type": "service_account", "private_key": "[REDACTED:private_key]", '
                            '"client_email": "a@b.iam"}')


# --- headers, URLs, command lines -----------------------------------------------------------------------

def test_authorization_bearer_header() -> None:
    text = f"> GET /v1/models HTTP/1.1\n> Authorization: Bearer {OPENAI}\n> Accept: */*"
    assert redact(text) == (
        "> GET /v1/models HTTP/1.1\n> Authorization: Bearer [REDACTED:openai_key]\n> Accept: */*"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [REDACTED:bearer_token]"),
        ("authorization: basic dXNlcjpodW50ZXIy", "authorization: basic [REDACTED:basic_auth]"),
        (f'"Authorization": "token {GITHUB}"', '"Authorization": "token [REDACTED:github_token]"'),
        ("Bearer 0123456789abcdefXYZ was rejected", "Bearer [REDACTED:bearer_token] was rejected"),
    ],
)
def test_authorization_forms(header: str, expected: str) -> None:
    assert redact(header) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:hunter2hunter2@example.com/repo.git",
         "https://alice:[REDACTED:password]@example.com/repo.git"),
        ("postgres://app:s3cr3t%40x@db.internal:5432/app",
         "postgres://app:[REDACTED:password]@db.internal:5432/app"),
        ("redis://:p4ssw0rd@cache:6379/0", "redis://:[REDACTED:password]@cache:6379/0"),
        (f"https://x-access-token:{GITHUB}@github.com/o/r",
         "https://x-access-token:[REDACTED:github_token]@github.com/o/r"),
    ],
)
def test_url_credentials_keep_the_user_and_host(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_traceback_with_a_url_holding_credentials() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/db.py", line 12, in connect\n'
        "    engine = create_engine(url)\n"
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect\n"
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)\n"
        "url was postgresql+psycopg2://admin:Tr0ub4dor&3@10.0.0.5:5432/prod\n"
    )
    redacted = redact(traceback)
    assert "Tr0ub4dor" not in redacted
    assert "postgresql+psycopg2://admin:[REDACTED:password]@10.0.0.5:5432/prod" in redacted
    assert 'File "/app/db.py", line 12, in connect' in redacted
    assert "https://sqlalche.me/e/20/e3q8" in redacted


def test_shell_history_line() -> None:
    line = (f"  512  export OPENAI_API_KEY={OPENAI} && curl -u deploy:Pa55w0rd! "
            f"-H 'Authorization: Bearer {OPENAI}' https://api.example.com/v1 --password=letmein2024")
    assert redact(line) == (
        "  512  export OPENAI_API_KEY=[REDACTED:openai_key] && curl -u deploy:[REDACTED:password] "
        "-H 'Authorization: Bearer [REDACTED:openai_key]' https://api.example.com/v1 "
        "--password=[REDACTED:password]"
    )


def test_netrc_password() -> None:
    text = "machine api.example.com login alice password correcthorse9\n"
    assert redact(text) == "machine api.example.com login alice password [REDACTED:password]\n"


# --- secret-named fields ----------------------------------------------------------------------------------

def test_realistic_dotenv_file() -> None:
    dotenv = (
        "# app settings\n"
        "DEBUG=true\n"
        "PORT=8000\n"
        f"OPENAI_API_KEY={OPENAI}\n"
        'export SECRET_TOKEN="b7e3c1d9a0f24e6c"\n'
        "DB_PASSWORD='hunter2hunter2'\n"
        "DB_PASS=plainwords\n"
        "SECRET_KEY_BASE=9f8e7d6c5b4a39281706f5e4d3c2b1a0\n"
        "MAX_TOKENS=4096\n"
        "TOKENIZERS_PARALLELISM=false\n"
        "DATABASE_URL=postgres://app:dbpass99@localhost/app\n"
        "SENTRY_DSN=${SENTRY_DSN}\n"
    )
    assert redact(dotenv) == (
        "# app settings\n"
        "DEBUG=true\n"
        "PORT=8000\n"
        "OPENAI_API_KEY=[REDACTED:openai_key]\n"
        'export SECRET_TOKEN="[REDACTED:secret]"\n'
        "DB_PASSWORD='[REDACTED:password]'\n"
        "DB_PASS=[REDACTED:password]\n"
        "SECRET_KEY_BASE=[REDACTED:secret]\n"
        "MAX_TOKENS=4096\n"
        "TOKENIZERS_PARALLELISM=false\n"
        "DATABASE_URL=postgres://app:[REDACTED:password]@localhost/app\n"
        "SENTRY_DSN=${SENTRY_DSN}\n"
    )


def test_json_config() -> None:
    config = (
        '{\n  "model": "qwen2.5-coder",\n  "max_tokens": 512,\n  "api_key": "abc123def456ghi789",\n'
        '  "github": {"token": "' + GITHUB + '", "token_url": "https://github.com/login/oauth"},\n'
        '  "db": {"user": "app", "password": "correct horse battery staple"},\n'
        '  "eos_token": "</s>",\n  "key": "value"\n}'
    )
    assert redact(config) == (
        '{\n  "model": "qwen2.5-coder",\n  "max_tokens": 512,\n  "api_key": "[REDACTED:secret]",\n'
        '  "github": {"token": "[REDACTED:github_token]", "token_url": "https://github.com/login/oauth"},\n'
        '  "db": {"user": "app", "password": "[REDACTED:password]"},\n'
        '  "eos_token": "</s>",\n  "key": "value"\n}'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('PASSWORD="hunter2hunter2"', 'PASSWORD="[REDACTED:password]"'),
        ("password: s3cretPassw0rd", "password: [REDACTED:password]"),
        ('client = OpenAI(api_key="not-a-real-key-123")', 'client = OpenAI(api_key="[REDACTED:secret]")'),
        ("self.api_key = 'abcdef123456'", "self.api_key = '[REDACTED:secret]'"),
        ('const accessToken = "a1b2c3d4e5f6";', 'const accessToken = "[REDACTED:secret]";'),
        ("aws_secret_access_key = " + AWS_SECRET, "aws_secret_access_key = [REDACTED:aws_secret_key]"),
        ("X-Api-Key: 5f4dcc3b5aa765d61d8327deb882cf99", "X-Api-Key: [REDACTED:secret]"),
        ("'db_password' => 'swordfish1'", "'db_password' => '[REDACTED:password]'"),
        ('secret_key = b"django-insecure-xyz"', 'secret_key = b"[REDACTED:secret]"'),
        ('os.environ["API_KEY"] = "abcdef123"', 'os.environ["API_KEY"] = "[REDACTED:secret]"'),
    ],
)
def test_secret_named_fields_keep_the_name(text: str, expected: str) -> None:
    assert redact(text) == expected


# --- ordinary code stays readable -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "code",
    [
        "tokens = text.split()",
        "def get_api_key(self):",
        "key = 3",
        "password_hint = None",
        "password = input()",
        "password = getpass.getpass('Password: ')",
        'api_key = os.environ["OPENAI_API_KEY"]',
        "client = OpenAI(api_key=api_key, base_url=base_url)",
        "token = self._token",
        "password: str | None = None",
        "api_key: Optional[str] = None",
        "    apiKey: string;",
        'eos_token = "</s>"',
        'pad_token = "<|endoftext|>"',
        "max_tokens = 4096",
        'sort_key = "name"',
        'primary_key="id"',
        'token_url = "https://example.com/oauth/token"',
        'headers = {"Authorization": f"Bearer {api_key}"}',
        'curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/models',
        'if password == "":',
        "for key, value in sorted(items, key=lambda kv: kv[0]):",
        'tokenizer = AutoTokenizer.from_pretrained("gpt2")',
        'keyword = "lambda"',
        'monkey = "banana"',
        "export PATH=$HOME/bin:$PATH",
        "token: ${{ secrets.GITHUB_TOKEN }}",
        'password: "{{ vault_db_password }}"',
        "if line.startswith('-----BEGIN RSA PRIVATE KEY-----'):",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "id = 123e4567-e89b-12d3-a456-426614174000",
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "see https://example.com:8080/path?user=a@b",
        "git@github.com:owner/repo.git",
        "Send a bearer token in the Authorization header.",
        "std::map<Token::Kind, int> counts;",
        "counts[key] = counts.get(key, 0) + 1",
        'config["api_key"] = args.api_key',
        "# the api_key: is required when the server asks for one",
        "pip install scikit-learn sk-video",
    ],
)
def test_ordinary_code_is_not_redacted(code: str) -> None:
    assert redact(code) == code


def test_locoder_sources_read_unchanged() -> None:
    """The model reads this project's own code; none of it is a secret."""
    package = Path(__file__).resolve().parents[1] / "src" / "locoder" / "safety"
    for path in package.glob("*.py"):
        source = path.read_text()
        assert redact(source) == source, path


# --- extra values ------------------------------------------------------------------------------------------

def test_extra_values_are_redacted_wherever_they_appear() -> None:
    text = "connected with tok3n-value-xyz; retrying tok3n-value-xyz.\nvalue=tok3n-value-xyzzy"
    assert redact(text, extra_values=["tok3n-value-xyz"]) == (
        "connected with [REDACTED:env_value]; retrying [REDACTED:env_value].\nvalue=[REDACTED:env_value]zy"
    )


def test_extra_values_of_five_characters_or_fewer_are_ignored() -> None:
    assert redact("the cat sat on 12345", extra_values=["cat", "12345", ""]) == "the cat sat on 12345"


def test_longest_extra_value_wins() -> None:
    assert redact("abcdef-ghijkl", extra_values=["abcdef", "abcdef-ghijkl"]) == "[REDACTED:env_value]"


def test_redaction_is_idempotent() -> None:
    text = (f"API_KEY={OPENAI}\nhttps://u:pw123456@h/\nAuthorization: Bearer {JWT}\n{PRIVATE_KEY}\n"
            "secret: abc123")
    once = redact(text, extra_values=["pw123456"])
    assert redact(once, extra_values=["pw123456"]) == once


# --- field names -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True), ("apiKey", True), ("APIKey", True), ("client_secret", True), ("db_password", True),
        ("PGPASSWORD", True), ("access_token", True), ("token", True), ("AWS_SECRET_ACCESS_KEY", True),
        ("key", False), ("sort_key", False), ("max_tokens", False), ("eos_token", False),
        ("token_url", False),
        ("password_hint", False), ("tokenizer", False), ("hotkey", False), ("AWS_ACCESS_KEY_ID", False),
    ],
)
def test_is_secret_field(name: str, secret: bool) -> None:
    assert is_secret_field(name) is secret


# --- environments ------------------------------------------------------------------------------------------

def test_is_secret_name_is_broad_for_environment_variables() -> None:
    for name in ("OPENAI_API_KEY", "HF_TOKEN", "GH_TOKEN", "MY_SERVICE_SECRET", "pgpassword", "LDAP_PASSWD",
                 "GOOGLE_APPLICATION_CREDENTIALS", "SMTP_PASS", "AWS_SESSION_TOKEN", "CONTEXT7_API_KEY"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "LANG", "PWD", "TOKENIZERS_PARALLELISM", "EDITOR", "BYPASS_PROXY"):
        assert not is_secret_name(name), name


def test_secret_env_values() -> None:
    env = {
        **ORDINARY_ENV,
        "OPENAI_API_KEY": OPENAI,
        "HUGGING_FACE_HUB_TOKEN": HF,
        "SHORT_TOKEN": "abc",
        "DATABASE_URL": "postgres://app:s3cr3t%21pw@db/app",
        "LOCODER_ALLOWED_KEY": "visible-on-purpose",
    }
    values = secret_env_values(env, allow=["LOCODER_ALLOWED_KEY"])
    assert values == [OPENAI, HF, "s3cr3t%21pw", "s3cr3t!pw"]


def test_filter_env_is_what_model_run_commands_get() -> None:
    env = {
        **ORDINARY_ENV,
        "OPENAI_API_KEY": OPENAI,
        "GITHUB_TOKEN": GITHUB,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "DATABASE_URL": "postgres://app:pw@db/app",
        "PIP_INDEX_URL": "https://__token__:" + GITHUB + "@pypi.example.com/simple",
        "MISC_SETTING": HF,
        "HF_TOKEN": HF,
    }
    filtered = filter_env(env, allow=["HF_TOKEN"])
    assert filtered == {**ORDINARY_ENV, "HF_TOKEN": HF}
    assert "OPENAI_API_KEY" in env  # a copy; the input is untouched


def test_filter_env_allow_needs_the_exact_name() -> None:
    assert filter_env({"GITHUB_TOKEN": GITHUB}, allow=["github_token"]) == {}


# --- audit records -----------------------------------------------------------------------------------------

def test_redact_obj_walks_records_and_returns_a_copy() -> None:
    record = {
        "type": "step",
        "tokens": 812,
        "observation": f"export GH_TOKEN={GITHUB}",
        "calls": [{"tool": "shell", "arguments": {"command": "echo ok", "api_key": "zz-top-secret-99"}}],
        "env": ("PATH=/bin", f"Authorization: Bearer {JWT}"),
        "raw": None,
    }
    redacted = redact_obj(record, extra_values=["echo ok-not-this"])
    assert redacted == {
        "type": "step",
        "tokens": 812,
        "observation": "export GH_TOKEN=[REDACTED:github_token]",
        "calls": [{"tool": "shell", "arguments": {"command": "echo ok", "api_key": "[REDACTED:secret]"}}],
        "env": ("PATH=/bin", "Authorization: Bearer [REDACTED:jwt]"),
        "raw": None,
    }
    assert record["observation"] == f"export GH_TOKEN={GITHUB}"


def test_redact_obj_uses_extra_values() -> None:
    redacted = redact_obj(["a my-secret-value b"], extra_values=["my-secret-value"])
    assert redacted == ["a [REDACTED:env_value] b"]


# --- speed -------------------------------------------------------------------------------------------------

def test_one_megabyte_is_redacted_well_under_a_second() -> None:
    chunk = (
        "def handler(request, token=None):\n"
        "    api_key = os.environ.get('OPENAI_API_KEY')\n"
        "    headers = {'Authorization': f'Bearer {api_key}', 'X-Request-Id': str(uuid.uuid4())}\n"
        "    for i, tok in enumerate(tokens):  # 3f786850e387550fdab836ed7e6dc881de23001b\n"
        "        print(i, tok, password_hint, 'https://example.com/a?b=c')\n"
        f"OPENAI_API_KEY={OPENAI}\n"
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.\n"
    )
    text = chunk * (1_000_000 // len(chunk) + 1)
    start = time.perf_counter()
    redacted = redact(text, extra_values=["some-env-secret-value", "another-one-123456"])
    elapsed = time.perf_counter() - start
    assert OPENAI not in redacted
    assert elapsed < 2.0, f"{elapsed:.2f}s for {len(text)} characters"


@pytest.mark.parametrize(
    "text",
    ["sk-" * 330_000, "-" * 1_000_000, '"' * 1_000_000, "https://a:b" * 90_000, "a." * 500_000,
     '{"token":abc1,"x":1}' * 50_000, '"-----BEGIN PRIVATE KEY-----" + ' * 33_000],
    ids=["sk-", "dashes", "quotes", "urls", "dots", "minified-json", "key-headers"],
)
def test_repetitive_input_stays_linear(text: str) -> None:
    """Inputs that would make a careless pattern rescan the rest of the text from every position."""
    start = time.perf_counter()
    redact(text)
    assert time.perf_counter() - start < 2.0
