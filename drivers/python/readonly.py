#!/usr/bin/env python3
"""A read-only driver in Python, with nothing but the standard library: the
read side of an app whose items are laid out as seed 001's ElectroDB entities
(profiles/electrodb.toml), answering the harness's reads from DynamoDB and S3.

It declares `"handles": ["read"]` in `ready`, so cutover performs the writes
with its own dual-write path (in the same layout) and sends this driver only
the reads; the read check then judges this driver's answers against the model.

    cutover replay scenarios/smoke.toml --profile profiles/electrodb.toml \
        --driver 'python3 drivers/python/readonly.py'

The protocol is docs/driver-protocol.md. DynamoDB's and S3's HTTP APIs are
called directly, signed with AWS Signature Version 4.
"""

import datetime
import hashlib
import hmac
import json
import sys
import threading
import unicodedata
import urllib.error
import urllib.parse
import urllib.request

PROTOCOL_VERSION = 1
_write_lock = threading.Lock()


def send(message):
    with _write_lock:
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# --- AWS Signature Version 4 -------------------------------------------------


def _sign(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class Aws:
    def __init__(self, endpoint, region, credentials):
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.credentials = credentials or {}

    def request(self, service, method, path, body=b"", headers=None, query=""):
        url = urllib.parse.urlsplit(self.endpoint + path)
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = dict(headers or {})
        headers.update({"host": url.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
        token = self.credentials.get("session_token")
        if token:
            headers["x-amz-security-token"] = token
        names = sorted(name.lower() for name in headers)
        canonical_headers = "".join(f"{name}:{str(headers[name]).strip()}\n" for name in names)
        signed = ";".join(names)
        canonical = "\n".join(
            [method, urllib.parse.quote(url.path or "/", safe="/-_.~"), query, canonical_headers, signed, payload_hash]
        )
        scope = f"{day}/{self.region}/{service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.credentials.get("secret_access_key", "")).encode()
        for part in (day, self.region, service, "aws4_request"):
            key = _sign(key, part)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.get('access_key_id', '')}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        target = self.endpoint + path + (f"?{query}" if query else "")
        request = urllib.request.Request(target, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


class Retryable(Exception):
    pass


# --- DynamoDB, as the app's ElectroDB entities lay it out ----------------------


def from_attribute(value):
    (kind, inner), = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        try:
            return int(inner)
        except ValueError:
            return float(inner)
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in inner.items()}
    if kind == "L":
        return [from_attribute(v) for v in inner]
    if kind in ("SS", "NS"):
        return list(inner)
    raise ValueError(f"unexpected attribute type {kind}")


def normalize(text):
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    out, pending = [], False
    for ch in folded:
        if ch.isspace() or unicodedata.category(ch) == "Cc":
            pending = bool(out)
        else:
            if pending:
                out.append(" ")
                pending = False
            out.append(ch)
    return "".join(out)


class Store:
    def __init__(self, run):
        credentials = run.get("credentials")
        self.dynamodb = Aws(run["dynamodb"]["endpoint"] or f"https://dynamodb.{run['dynamodb']['region']}.amazonaws.com", run["dynamodb"]["region"], credentials)
        self.s3 = Aws(run["s3"]["endpoint"] or f"https://s3.{run['s3']['region']}.amazonaws.com", run["s3"]["region"], credentials)
        self.table = run["dynamodb"]["table"]
        self.bucket = run["s3"]["bucket"]

    def call(self, action, body):
        status, data = self.dynamodb.request(
            "dynamodb",
            "POST",
            "/",
            json.dumps(body).encode(),
            {"content-type": "application/x-amz-json-1.0", "x-amz-target": f"DynamoDB_20120810.{action}"},
        )
        if status == 200:
            return json.loads(data)
        error = data.decode("utf-8", "replace")
        if status >= 500 or "Throttling" in error or "ProvisionedThroughputExceeded" in error:
            raise Retryable(f"DynamoDB {action}: HTTP {status}: {error[:200]}")
        raise RuntimeError(f"DynamoDB {action}: HTTP {status}: {error[:300]}")

    def query(self, key_condition, values, index=None, entity=None):
        items, start = [], None
        while True:
            body = {"TableName": self.table, "KeyConditionExpression": key_condition, "ExpressionAttributeValues": values}
            if index:
                body["IndexName"] = index
            if start:
                body["ExclusiveStartKey"] = start
            page = self.call("Query", body)
            items += [{k: from_attribute(v) for k, v in item.items()} for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        # ElectroDB's ownership check: only the entity's own items.
        return [item for item in items if entity is None or item.get("__edb_e__") == entity]

    def get(self, pk, sk):
        body = {"TableName": self.table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}, "ConsistentRead": True}
        item = self.call("GetItem", body).get("Item")
        return {k: from_attribute(v) for k, v in item.items()} if item else None

    def transcript(self, key):
        path = "/" + urllib.parse.quote(self.bucket) + "/" + urllib.parse.quote(key, safe="/")
        status, data = self.s3.request("s3", "GET", path)
        if status == 200:
            return data.decode("utf-8")
        if status >= 500:
            raise Retryable(f"S3 GET {key}: HTTP {status}")
        raise RuntimeError(f"S3 GET {key}: HTTP {status}: {data[:200]!r}")


# ElectroDB's default casing lowercases the whole key.
def key(template_prefix, value):
    return f"{template_prefix}#{value}".lower()


def user_answer(i):
    return {"id": i["userId"], "email": i["email"], "display_name": i["displayName"]}


def campaign_answer(i):
    return {"id": i["campaignId"], "user_id": i["userId"], "name": i.get("name", ""), "description": i.get("description", "")}


def session_answer(i):
    return {
        "id": i["sessionId"],
        "campaign_id": i["campaignId"],
        "user_id": i["userId"],
        "name": i.get("name", ""),
        "summary": i.get("summary", ""),
        "metadata": i.get("metadata", {}),
        "share_token": i.get("shareToken"),
    }


def summary_answer(i):
    return {"id": i["summaryId"], "session_id": i["sessionId"], "user_id": i["userId"], "kind": i.get("kind", ""), "body": i.get("body", "")}


def read(store, user, request):
    name, arg = request["read"], request.get("arg")
    s = lambda text: {"S": text}  # noqa: E731
    owned = lambda item: item if item and item.get("userId") == user else None  # noqa: E731

    def campaign(cid):
        found = store.query("gsi1pk = :pk", {":pk": s(key("CAMP", cid))}, index="gsi1", entity="campaign")
        return owned(found[0] if found else None)

    def session(sid):
        found = store.query("gsi1pk = :pk", {":pk": s(key("SESS", sid))}, index="gsi1", entity="session")
        return owned(found[0] if found else None)

    if name == "user":
        item = owned(store.get(key("USER", arg), "metadata")) if arg == user else None
        return user_answer(item) if item else None
    if name == "campaigns_of":
        if arg != user:
            return []
        items = store.query("pk = :pk AND begins_with(sk, :sk)", {":pk": s(key("USER", arg)), ":sk": s("camp#")}, entity="campaign")
        return [campaign_answer(i) for i in items]
    if name == "campaign":
        item = campaign(arg)
        return campaign_answer(item) if item else None
    if name == "sessions_of":
        if not campaign(arg):
            return []
        items = store.query("pk = :pk AND begins_with(sk, :sk)", {":pk": s(key("CAMP", arg)), ":sk": s("sess#")}, entity="session")
        return [session_answer(i) for i in items]
    if name == "session":
        item = session(arg)
        return session_answer(item) if item else None
    if name == "summaries_of":
        if not session(arg):
            return []
        items = store.query("pk = :pk AND begins_with(sk, :sk)", {":pk": s(key("SESS", arg)), ":sk": s("summary#")}, entity="summary")
        return [summary_answer(i) for i in items]
    if name == "session_by_share_token":
        found = store.query("shareToken = :t", {":t": s(arg)}, index="shareToken", entity="session")
        return session_answer(found[0]) if found else None
    if name == "transcript":
        item = session(arg)
        return store.transcript(item["transcriptStorageKey"]) if item else None
    if name == "search_sessions":
        if not campaign(arg["campaign"]):
            return []
        needle = normalize(arg["query"])
        items = store.query("pk = :pk AND begins_with(sk, :sk)", {":pk": s(key("CAMP", arg["campaign"])), ":sk": s("sess#")}, entity="session")
        return sorted(i["sessionId"] for i in items if needle in i.get("searchText", ""))
    return {"rejected": f"unknown read {name!r}"}


def handle(store, message):
    try:
        if message["type"] == "read":
            answer = read(store, message["user"], message["read"])
            if isinstance(answer, dict) and set(answer) == {"rejected"}:
                result = {"outcome": "rejected", "reason": "invalid", "detail": answer["rejected"]}
            else:
                result = {"outcome": "ok", "answer": answer}
        elif message["type"] == "drain":
            result = {"outcome": "ok", "answer": {"pending": 0}}
        elif message["type"] == "mode":
            # It reads DynamoDB in every mode (cutover performs its writes).
            result = {"outcome": "ok", "answer": None}
        else:
            result = {"outcome": "rejected", "reason": "invalid", "detail": "this driver only reads"}
    except (Retryable, OSError) as error:
        result = {"outcome": "failed", "error": str(error), "retryable": True}
    except Exception as error:  # the harness records it; the driver goes on
        result = {"outcome": "failed", "error": f"{type(error).__name__}: {error}", "retryable": False}
    send({"type": "result", "id": message["id"], **result})


def main():
    store = None
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "hello":
            if message.get("protocol") != PROTOCOL_VERSION:
                log(f"the harness speaks protocol {message.get('protocol')}; this driver speaks {PROTOCOL_VERSION}")
            store = Store(message["run"])
            send({"type": "ready", "protocol": PROTOCOL_VERSION, "driver": "python-readonly", "version": "1", "handles": ["read"]})
        elif kind == "bye":
            break
        else:
            # One thread per operation: the harness may have several in flight.
            threading.Thread(target=handle, args=(store, message), daemon=False).start()
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join()


if __name__ == "__main__":
    main()
