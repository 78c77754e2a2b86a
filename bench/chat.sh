#!/usr/bin/env bash
# bench/chat.sh: does a long conversation cost the web chat anything extra, and what does the chat's
# route add to the first token when many people stream at once?
#
# One `fabrique serve` on its embedded defaults (SQLite, the built-in simulator), the group's
# retention `full` (conversations kept, sealed under the person's content key), a bench model on
# the built-in simulator endpoint whose context window holds a 2,000-message prompt, and the
# simulator answering with no time to first token (in section `long`, the whole answer at once)
# so the GPU is not what is measured. The bootstrap administrator signs in through the one-time
# link the server prints; every request is the page's own: its session cookie and its CSRF token
# (`x-csrf-token`).
#
# Section `long`: a conversation of MESSAGES messages is built through the real chat route
# (`POST /chat/send`, MESSAGES/2 questions, each sent as the page does: continuing the kept
# conversation, the question alone and its position; the server reads the history), and one of 2
# messages beside it. Then:
#   - opening each (`GET /c/{id}`, the page rendered whole on the server), REQUESTS times on one
#     keep-alive connection: p50 / p99 / max of the time to the last byte;
#   - the server's CPU time (utime + stime of /proc/PID/stat, 10 ms ticks) per send, averaged
#     over SENDS sends, once the server is quiet (under 2 ticks in 2 s): in the short
#     conversation and in the long one (its whole history is the prompt), and the same two
#     prompts sent straight to `/v1/chat/completions` (the gateway's own cost of the prompt), which
#     tells what the chat adds from what the prompt costs.
# Section `answer`: one long answer streamed. A separate `fabrique sim --echo` (its CPU is not the
#   server's) answers with the question: ANSWER_KB kilobytes of Markdown (paragraphs, lists, code
#   blocks), three characters a token at ECHO_TOKENS_PER_SECOND, each token one event. The
#   server's CPU per answer (averaged over SENDS, each in a new kept conversation) and the bytes
#   of events the page receives.
# Section `paint`: QUESTIONS questions asked in the chat page itself, in Debian's Chromium driven
#   by playwright-core (bench/chat-paint.mjs; the modules tests/browser/package.json pins, installed
#   under $WORK/browser): from the first `answer` fragment handed to the page's script to the answer
#   changed in the page, and to the next frame (painted). Not in the default SECTIONS.
# Section `crowd`: the simulator runs as its own process (`fabrique sim`, on PORT + 1), as a GPU
#   backend does. N streaming sends to `/chat/send` at once, each a new question in a new kept
#   conversation: the time from writing the request to the first `answer` fragment. With
#   PROTOCOL=h2c (the default) the clients speak HTTP/2 with prior knowledge over CONNECTIONS
#   connections, as a proxy in front of the replicas does, so the server holds about one file
#   descriptor per stream (its connection to the simulator); with PROTOCOL=http1, one connection
#   per stream (opened first, requests written together), two descriptors per stream. Then,
#   while those N streams go on (their answers last ANSWER_SECONDS), PROBES sends one at a time
#   to each of `/chat/send` and, with the same session, `/v1/chat/completions` (time to the first
#   token), the first token stopping each. Last, N requests at once straight to
#   `/v1/chat/completions`. p50 / p99 / max of each, what the web route adds, and the server's
#   open file descriptors while the N chat streams are open.
#
# Usage, from anywhere:  bash bench/chat.sh
# Knobs (environment): SECTIONS="long crowd answer"  MESSAGES=2000  REQUESTS=20  SENDS=10
#   CONTEXT=4000000 (the bench model's context length in tokens: the default holds the whole
#   2,000-message conversation; a smaller one, e.g. 32768, has the chat send its newest messages
#   that fit)
#   ANSWER_KB=24  ECHO_TOKENS_PER_SECOND=2000  QUESTIONS=50  N=1000
#   (documented setting for the issue's figure: N=10000, which needs `ulimit -n` of at least
#   N + 1,000 for the server with h2c, 2 N + 1,000 with http1)  PROBES=200
#   PROTOCOL=h2c|http1  CONNECTIONS=10 (h2c)  CONNECT_TIMEOUT_MS=2000 (`[routing]`, the
#   gateway's connections to the simulator)  RETENTION=full|metadata (`metadata` keeps nothing
#   of the chat: section `crowd` without the keeping's writes)  ANSWER_SECONDS=30
#   PROFILE=release|debug  BUILD=auto|1|0  INSTALL=1|0  WORK=/tmp/fabrique-chat-bench  PORT=18791
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
SECTIONS=${SECTIONS:-long crowd answer}
MESSAGES=${MESSAGES:-2000}
CONTEXT=${CONTEXT:-4000000}
REQUESTS=${REQUESTS:-20}
SENDS=${SENDS:-10}
N=${N:-1000}
PROBES=${PROBES:-200}
ANSWER_SECONDS=${ANSWER_SECONDS:-30}
ANSWER_KB=${ANSWER_KB:-24}
ECHO_TOKENS_PER_SECOND=${ECHO_TOKENS_PER_SECOND:-2000}
QUESTIONS=${QUESTIONS:-50}
RETENTION=${RETENTION:-full}
PROFILE=${PROFILE:-release}
BUILD=${BUILD:-auto}
WORK=${WORK:-/tmp/fabrique-chat-bench}
PORT=${PORT:-18791}
PROTOCOL=${PROTOCOL:-h2c}
CONNECTIONS=${CONNECTIONS:-10}
CONNECT_TIMEOUT_MS=${CONNECT_TIMEOUT_MS:-2000}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
FABRIQUE_BIN=$TARGET_DIR/$PROFILE/fabrique
URL=http://127.0.0.1:$PORT
LOGS=$WORK/logs
MODEL=bench-chat
# The simulator's answers are 32 tokens unless asked otherwise.
ANSWER_TOKENS=32
# shellcheck source=lib/processes.sh
source "$HERE/lib/processes.sh"

configure() {          # configure SECONDS : retention full, the bench model, answers lasting SECONDS
    cat > "$WORK/fabrique.toml" <<EOF
[simulator]
ttft_ms = 0
tokens_per_second = $(speed "$1")
capacity = 1000000
$(crowd_server)

[retention]
master_key_env = "FABRIQUE_BENCH_MASTER_KEY"
mode = "$RETENTION"
$([[ $RETENTION == full ]] && echo "days = 30")

[[models]]
name = "$MODEL"
kind = "chat"
endpoints = ["$(if [[ -n ${SIM_URL:-} ]]; then echo gpu; elif [[ -n ${ECHO_PORT:-} ]]; then echo echo; else echo simulator; fi)"]
context_length = $CONTEXT
EOF
    # Section `answer`: the model is the echoing simulator, its own process.
    [[ -z ${ECHO_PORT:-} ]] || cat >> "$WORK/fabrique.toml" <<EOF

[[endpoints]]
name = "echo"
kind = "openai"
url = "http://127.0.0.1:$ECHO_PORT/v1"
hosting = "on_premises"
clearance = "secret"
EOF
}

speed() {              # speed SECONDS : the tokens a second that make an answer last SECONDS
    awk -v t=$ANSWER_TOKENS -v s="$1" 'BEGIN { printf "%.3f", t / s }'
}

crowd_server() {       # with SIM_URL (section `crowd`): the simulator process, streams per connection
    [[ -n ${SIM_URL:-} ]] || return 0
    cat <<EOF

[server]
http2_max_concurrent_streams = $(( N / CONNECTIONS + 1 > 1000 ? N / CONNECTIONS + 1 : 1000 ))

[routing]
connect_timeout_ms = $CONNECT_TIMEOUT_MS

[[endpoints]]
name = "gpu"
kind = "vllm"
url = "$SIM_URL"
hosting = "on_premises"
clearance = "secret"
capacity = 1000000
EOF
}

serve() {              # a fresh server, PID in SERVER_PID, the administrator signed in (cookies)
    rm -rf "$WORK/data"
    FABRIQUE_BENCH_MASTER_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())') \
    FABRIQUE_ADMIN_KEY=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))') \
        start_bg fabrique "$FABRIQUE_BIN" serve --config "$WORK/fabrique.toml" \
        --listen "127.0.0.1:$PORT" --data-dir "$WORK/data"
    SERVER_PID=$LAST_PID
    wait_ready "$URL/readyz" "$SERVER_PID" 120 \
        || { tail -n 30 "$LOGS/fabrique.log" >&2; die "fabrique did not answer 200 on /readyz within 120 s"; }
    local link
    link=$(grep -o 'http://[^ ]*/auth/link/fabl_[A-Za-z0-9_-]*' "$LOGS/fabrique.log" | tail -n 1)
    [[ -n $link ]] || die "no sign-in link in $LOGS/fabrique.log"
    rm -f "$WORK/cookies"
    curl -s -o /dev/null -c "$WORK/cookies" "$link"
    # The page gives the browser its CSRF cookie and token.
    curl -s -b "$WORK/cookies" -c "$WORK/cookies" "$URL/" > "$WORK/page.html"
    TOKEN=$(grep -o 'name="csrf-token" content="[^"]*"' "$WORK/page.html" | sed 's/.*content="//; s/"$//')
    [[ -n $TOKEN ]] || die "signing in through the link gave no chat page"
    COOKIE=$(sed 's/^#HttpOnly_//' "$WORK/cookies" \
        | awk '!/^#/ && NF >= 7 { printf "%s%s=%s", sep, $6, $7; sep = "; " }')
    log "fabrique ready (pid $SERVER_PID), admin signed in"
}

client() {             # client COMMAND ARGS... : the Python client below
    CHAT_URL=$URL CHAT_COOKIE=$COOKIE CHAT_TOKEN=$TOKEN CHAT_MODEL=$MODEL SERVER_PID=$SERVER_PID \
        python3 - "$@" <<'PY'
import asyncio, collections, json, os, sys, time, urllib.parse
import http.client

URL = urllib.parse.urlsplit(os.environ["CHAT_URL"])
COOKIE, TOKEN, MODEL = os.environ["CHAT_COOKIE"], os.environ["CHAT_TOKEN"], os.environ["CHAT_MODEL"]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    with open("/proc/%s/stat" % os.environ["SERVER_PID"]) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def send(conn, conversation, messages, position=None):
    """One `POST /chat/send`, read to its end: (conversation id, answer text, bytes read)."""
    body = {"model": MODEL, "conversation": conversation, "messages": messages}
    if position is not None:
        body["position"] = position
    body = json.dumps(body)
    conn.request("POST", "/chat/send", body, {"cookie": COOKIE, "x-csrf-token": TOKEN,
                                              "content-type": "application/json"})
    response = conn.getresponse()
    text = response.read().decode()
    if response.status != 200:
        sys.exit("chat/send answered %d: %s" % (response.status, text[:300]))
    answer, kept = "", conversation
    for event in text.split("\n\n"):
        lines = event.split("\n")
        if len(lines) < 2:
            continue
        name, data = lines[0][len("event: "):], json.loads(lines[1][len("data: "):])
        if name == "conversation":
            kept = data["id"]
        elif name == "answer":
            answer += data["delta"]
        elif name == "refused":
            sys.exit("refused: " + data["html"])
    return kept, answer, len(text)


def build(count):
    """A conversation of `count` messages, through the chat route as the page sends: prints its
    id."""
    conn = http.client.HTTPConnection(URL.hostname, URL.port)
    conversation, messages = None, []
    while len(messages) < int(count):
        question = {"role": "user", "content": "question %d: what changed?" % len(messages)}
        if conversation is None:
            conversation, answer, _ = send(conn, None, messages + [question])
        else:
            conversation, answer, _ = send(conn, conversation, [question], len(messages))
        messages += [question, {"role": "assistant", "content": answer}]
    with open(os.environ.get("HISTORY", "/dev/null"), "w") as f:
        json.dump(messages, f)
    print(conversation)


def api(conn, messages):
    """One streaming `POST /v1/chat/completions` of `messages`, with the page's session, read to
    its end."""
    body = json.dumps({"model": MODEL, "messages": messages, "stream": True,
                       "stream_options": {"include_usage": True}})
    conn.request("POST", "/v1/chat/completions", body, {"cookie": COOKIE,
                                                        "content-type": "application/json"})
    response = conn.getresponse()
    text = response.read()
    if response.status != 200:
        sys.exit("/v1/chat/completions answered %d: %s" % (response.status, text[:300]))


def measured(sends, one):
    """Server CPU milliseconds per call of `one(i)`, averaged over `sends`, after one warm-up."""
    one(-1)
    total = 0.0
    for i in range(int(sends)):
        time.sleep(0.3)  # let the previous send's kept answer and metering settle
        before = cpu_seconds()
        one(i)
        time.sleep(0.3)
        total += cpu_seconds() - before
    return total * 1000 / int(sends)


def cpu(conversation, history, sends):
    """Server CPU milliseconds per send: continuing the kept `conversation` as the page does (the
    question alone), or, when "-", the prompt it would be (the file `history` and the question)
    straight to `/v1/chat/completions`."""
    with open(history) as f:
        messages = json.load(f)
    conn = http.client.HTTPConnection(URL.hostname, URL.port)

    def one(i):
        question = {"role": "user", "content": "one more question %d" % i}
        if conversation == "-":
            api(conn, messages + [question])
        else:
            send(conn, conversation, [question])

    print("%.1f" % measured(sends, one))


def answer(kb, sends):
    """A long Markdown answer streamed by the echoing simulator: its bytes, the bytes of events
    the page receives and the server's CPU milliseconds per answer."""
    blocks, i = [], 0
    while sum(len(b) + 2 for b in blocks) < int(kb) * 1024:
        words = " ".join("word%d" % w for w in range(40))
        blocks.append(["Paragraph %d: %s, **bold** and `code`." % (i, words),
                       "- item %d\n- another *item*\n- a [link](https://example.com/%d)" % (i, i),
                       "```python\ndef f%d(x):\n    return x * %d\n```" % (i, i)][i % 3])
        i += 1
    question = [{"role": "user", "content": "\n\n".join(blocks)}]
    conn = http.client.HTTPConnection(URL.hostname, URL.port)
    read = []

    def one(i):
        _, text, size = send(conn, None, question)
        if not text.endswith(question[0]["content"][-100:]):
            sys.exit("the echoed answer came back cut: %r" % text[-200:])
        read.append(size)

    per_answer = measured(sends, one)
    print("%d | %d | %.1f" % (len(question[0]["content"]), read[-1], per_answer))


ROUTES = {
    "web": ("/chat/send", b"event: answer", {}),
    "api": ("/v1/chat/completions", b'"delta":{"content":"',
            {"stream": True, "stream_options": {"include_usage": True}}),
}


def request(route):
    path, marker, extra = ROUTES[route]
    body = dict({"model": MODEL, "messages": [{"role": "user", "content": "how are you?"}]}, **extra)
    body = json.dumps(body).encode()
    head = ("POST %s HTTP/1.1\r\nhost: %s\r\ncookie: %s\r\nx-csrf-token: %s\r\n"
            "content-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % (path, URL.netloc, COOKIE, TOKEN, len(body))).encode()
    return head + body, marker


async def stream(route, firsts, failed, start=None, ready=None, to_end=True):
    """One streaming request: appends to `firsts` the seconds from writing it to its first token
    (its first `answer` fragment on the chat), or to `failed` what came instead; reads it to its
    end when `to_end`, else closes it there (stopped)."""
    data, marker = request(route)
    reader, writer = await asyncio.open_connection(URL.hostname, URL.port)
    if ready is not None:
        ready.append(1)
        await start.wait()
    sent = time.perf_counter()
    writer.write(data)
    await writer.drain()
    seen = b""
    while marker not in seen:
        chunk = await reader.read(65536)
        if not chunk or (b"\r\n\r\n" in seen and b" 200 OK" not in seen[:20]):
            failed.append(seen.split(b"\r\n")[0] + b" " + seen.split(b"\r\n\r\n", 1)[-1][-200:])
            writer.close()
            return
        seen += chunk
    firsts.append(time.perf_counter() - sent)
    while to_end and await reader.read(65536):
        pass
    writer.close()


async def burst(route, n, probes=0):
    """N streaming requests on `route` written at once: their first-token seconds, and what came
    instead of those that failed; and, once all stream, `probes` requests on each route in turn,
    one at a time, while they go on."""
    start, ready, firsts, failed = asyncio.Event(), [], [], []
    tasks = [asyncio.create_task(stream(route, firsts, failed, start, ready)) for _ in range(n)]
    while len(ready) < n:
        await asyncio.sleep(0.05)
    start.set()
    while len(firsts) + len(failed) < n:
        await asyncio.sleep(0.01)
    descriptors = len(os.listdir("/proc/%s/fd" % os.environ["SERVER_PID"]))
    probed = {"web": [], "api": []}
    for _ in range(probes):
        for name in ("web", "api"):
            await stream(name, probed[name], failed, to_end=False)
    open_at_end = sum(1 for t in tasks if not t.done())
    await asyncio.gather(*tasks)
    return firsts, failed, probed, open_at_end, descriptors


def percentile(xs, p):
    xs = sorted(xs) or [float("nan")]
    return xs[min(len(xs) - 1, max(0, int(len(xs) * p + 0.999) - 1))]


def rows(named):
    print("| requests | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, xs in named:
        print("| %s | %.1f | %.1f | %.1f |" % (name, percentile(xs, .5) * 1000,
                                                percentile(xs, .99) * 1000, percentile(xs, 1) * 1000))


def crowds(n, probes):
    n, probes = int(n), int(probes)
    crowd = {"h2c": burst_h2, "http1": burst}[os.environ.get("PROTOCOL", "h2c")]
    web, web_failed, probed, still_open, descriptors = asyncio.run(crowd("web", n, probes))
    time.sleep(float(os.environ.get("SETTLE", "5")))
    api, api_failed, _, _, _ = asyncio.run(crowd("api", n))
    print("%d chat streams answered their first token, %d still open when the probes ended; "
          "the server held %d file descriptors with them open"
          % (len(web), still_open, descriptors))
    for name, failed in (("chat", web_failed), ("API", api_failed)):
        for answer, count in collections.Counter(failed).most_common(3):
            print("%d %s requests failed: %s" % (count, name, answer.decode(errors="replace")))
    print()
    rows([("%d written at once to `/v1/chat/completions`, first token" % n, api),
          ("%d written at once to `/chat/send`, first `answer` fragment" % n, web)])
    print("| what the web adds, burst | %.1f | %.1f | %.1f |" % tuple(
        (percentile(web, p) - percentile(api, p)) * 1000 for p in (.5, .99, 1)))
    print()
    rows([("one at a time beside %d open chat streams: `/v1/chat/completions`" % n, probed["api"]),
          ("one at a time beside %d open chat streams: `/chat/send`" % n, probed["web"])])
    print("| what the web adds, one at a time | %.1f | %.1f | %.1f |" % tuple(
        (percentile(probed["web"], p) - percentile(probed["api"], p)) * 1000 for p in (.5, .99, 1)))


class H2:
    """One HTTP/2 connection with prior knowledge (h2c), as a proxy in front would hold it, carrying
    many streams; `python3 -m pip install h2`."""

    @classmethod
    async def open(cls):
        import h2.config, h2.connection, h2.settings
        self = cls()
        self.reader, self.writer = await asyncio.open_connection(URL.hostname, URL.port)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
            h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window((1 << 30) - 65535)
        self.writer.write(self.conn.data_to_send())
        self.streams, self.settled = {}, asyncio.Event()
        self.task = asyncio.create_task(self.read())
        await self.settled.wait()  # the server's settings: how many streams it takes
        return self

    def start(self, route, firsts, failed, to_end=True):
        """Writes one streaming request: its `Stream`, whose `first` resolves at its first token."""
        path, marker, extra = ROUTES[route]
        body = dict({"model": MODEL, "messages": [{"role": "user", "content": "how are you?"}]},
                    **extra)
        body = json.dumps(body).encode()
        sid = self.conn.get_next_available_stream_id()
        stream = Stream(marker, firsts, failed, to_end)
        self.streams[sid] = stream
        stream.sent = time.perf_counter()
        self.conn.send_headers(sid, [
            (":method", "POST"), (":path", path), (":scheme", "http"), (":authority", URL.netloc),
            ("cookie", COOKIE), ("x-csrf-token", TOKEN), ("content-type", "application/json"),
            ("content-length", str(len(body)))])
        self.conn.send_data(sid, body, end_stream=True)
        self.writer.write(self.conn.data_to_send())
        return sid, stream

    def stop(self, sid):
        """Resets the stream, as a page that stops an answer or a client that goes away."""
        self.conn.reset_stream(sid)
        self.writer.write(self.conn.data_to_send())
        self.streams.pop(sid).end()

    async def read(self):
        import h2.events as ev
        open_ = True
        while open_:
            data = await self.reader.read(1 << 16)
            open_ = bool(data)
            for event in self.conn.receive_data(data) if data else ():
                stream = self.streams.get(getattr(event, "stream_id", None))
                if isinstance(event, ev.RemoteSettingsChanged):
                    self.settled.set()
                elif isinstance(event, ev.ResponseReceived) and stream:
                    stream.status = dict(event.headers).get(b":status", b"?")
                elif isinstance(event, ev.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                        event.stream_id)
                    if stream:
                        stream.data(event.data)
                elif isinstance(event, (ev.StreamEnded, ev.StreamReset)) and stream:
                    self.streams.pop(event.stream_id).end()
                elif isinstance(event, ev.ConnectionTerminated):
                    open_ = False
            self.writer.write(self.conn.data_to_send())
        for stream in self.streams.values():
            stream.end()


class Stream:
    """One stream's answer as it arrives: its first token's time, or what came instead."""

    def __init__(self, marker, firsts, failed, to_end):
        self.marker, self.firsts, self.failed, self.to_end = marker, firsts, failed, to_end
        self.sent, self.status, self.seen = None, None, b""
        self.first = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()

    def data(self, chunk):
        if self.first.done():
            return
        self.seen += chunk
        if self.status == b"200" and self.marker in self.seen:
            self.firsts.append(time.perf_counter() - self.sent)
            self.first.set_result(True)

    def end(self):
        if not self.first.done():
            self.failed.append(b"HTTP/2 " + (self.status or b"reset") + b" " + self.seen[-200:])
            self.first.set_result(False)
        if not self.done.done():
            self.done.set_result(None)


async def burst_h2(route, n, probes=0):
    """`burst` over CONNECTIONS HTTP/2 connections, the streams spread evenly; the probes on a
    connection of their own."""
    connections = [await H2.open() for _ in range(int(os.environ.get("CONNECTIONS", "10")))]
    firsts, failed, streams = [], [], []
    for i in range(n):
        streams.append(connections[i % len(connections)].start(route, firsts, failed)[1])
        await asyncio.sleep(0)  # let the readers take what has come back meanwhile
    await asyncio.gather(*(s.first for s in streams))
    descriptors = len(os.listdir("/proc/%s/fd" % os.environ["SERVER_PID"]))
    probed, prober = {"web": [], "api": []}, await H2.open()
    for _ in range(probes):
        for name in ("web", "api"):
            sid, stream = prober.start(name, probed[name], failed)
            if await stream.first:
                prober.stop(sid)
            await stream.done
    open_at_end = sum(1 for s in streams if not s.done.done())
    await asyncio.gather(*(s.done for s in streams))
    for connection in connections + [prober]:
        connection.writer.close()
    return firsts, failed, probed, open_at_end, descriptors


{"build": build, "cpu": cpu, "crowd": crowds, "answer": answer}[sys.argv[1]](*sys.argv[2:])
PY
}

quiet() {              # waits (at most a minute) until the server spends under 2 ticks in 2 s: the
    local before after i   # background work a burst of sends leaves is not a send's
    for (( i = 0; i < 30; i++ )); do
        before=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
        sleep 2
        after=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
        (( after - before < 2 )) && return 0
    done
    log "the server was still busy after a minute: the CPU figures below include its own work"
}

cpu_per_send() {       # cpu_per_send CONVERSATION|- HISTORY : server CPU ms per send, the server quiet first
    quiet
    client cpu "$@" "$SENDS"
}

open_times() {         # open_times ID : "p50 p99 max" ms of REQUESTS fetches of /c/ID in a row
    local args=() i
    for (( i = 0; i < REQUESTS + 2; i++ )); do
        args+=(--next -s -o /dev/null -b "$WORK/cookies" -w '%{http_code} %{time_total}\n' "$URL/c/$1")
    done
    curl "${args[@]:1}" | tail -n "$REQUESTS" > "$LOGS/open.txt"
    awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$LOGS/open.txt" || die "/c/$1 did not answer 200"
    cut -d' ' -f2 "$LOGS/open.txt" | sort -g | awk '
        { t[NR] = $1 * 1000 }
        END { p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
              printf "%.1f | %.1f | %.1f", t[int((NR + 1) / 2)], t[p99], t[NR] }'
}

long() {
    local started=$SECONDS long short bytes
    log "building a conversation of $MESSAGES messages through POST /chat/send"
    long=$(HISTORY=$WORK/long.json client build "$MESSAGES")
    log "built in $(( SECONDS - started )) s: $long"
    short=$(HISTORY=$WORK/short.json client build 2)
    bytes=$(curl -s -b "$WORK/cookies" "$URL/c/$long" | wc -c)
    echo "| conversation | open p50 ms | p99 ms | max ms | page bytes | server CPU ms per send | the same prompt to the API |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "| 2 messages | $(open_times "$short") | $(curl -s -b "$WORK/cookies" "$URL/c/$short" | wc -c) | $(cpu_per_send "$short" "$WORK/short.json") | $(cpu_per_send - "$WORK/short.json") |"
    echo "| $MESSAGES messages | $(open_times "$long") | $bytes | $(cpu_per_send "$long" "$WORK/long.json") | $(cpu_per_send - "$WORK/long.json") |"
}

answer() {
    local echo_pid
    start_bg echo-sim "$FABRIQUE_BIN" sim --echo --listen "127.0.0.1:$ECHO_PORT" --ttft-ms 0 \
        --tokens-per-second "$ECHO_TOKENS_PER_SECOND" --capacity 1000 --max-tokens-default 10000000
    echo_pid=$LAST_PID
    wait_ready "http://127.0.0.1:$ECHO_PORT/v1/models" "$echo_pid" 60 || die "fabrique sim did not start"
    quiet
    echo "| answer bytes | event bytes to the page | server CPU ms per answer |"
    echo "|---:|---:|---:|"
    echo "| $(client answer "$ANSWER_KB" "$SENDS") |"
    stop_pid "$echo_pid"
}

paint() {
    local chromium
    chromium=$(command -v chromium || command -v chromium-browser) || die "section paint needs Debian's chromium"
    need_tools node npm
    mkdir -p "$WORK/browser"
    if ! cmp -s "$REPO_ROOT/tests/browser/package.json" "$WORK/browser/package.json"; then
        cp "$REPO_ROOT/tests/browser/package.json" "$WORK/browser/package.json"
        (cd "$WORK/browser" && npm install --no-audit --no-fund --loglevel=error) > "$LOGS/npm.log" 2>&1 \
            || die "npm could not install playwright-core, see $LOGS/npm.log"
    fi
    echo "| $QUESTIONS questions in Chromium | p50 ms | p99 ms | max ms |"
    echo "|---|---:|---:|---:|"
    CHAT_URL=$URL CHAT_COOKIE=$COOKIE BROWSER_MODULES=$WORK/browser/node_modules CHROMIUM=$chromium \
        QUESTIONS=$QUESTIONS node "$HERE/chat-paint.mjs"
}

crowd() {              # the simulator its own process, then the server, then the clients
    local per_stream=1 sim_port=$(( PORT + 1 ))
    [[ $PROTOCOL == http1 ]] && per_stream=2
    local need=$(( per_stream * N + 1000 ))
    if (( $(ulimit -n) < need )); then
        ulimit -n "$need" 2>/dev/null || die "N=$N needs ulimit -n >= $need (now $(ulimit -n))"
    fi
    if [[ $PROTOCOL == h2c ]] && ! python3 -c 'import h2' 2>/dev/null; then
        [[ ${INSTALL:-1} == 1 ]] || die "PROTOCOL=h2c needs the Python package h2 (INSTALL=0)"
        log "installing the Python package h2 (pip)"
        python3 -m pip install -q h2 > "$LOGS/pip.log" 2>&1 \
            || die "pip install h2 failed, see $LOGS/pip.log"
    fi
    start_bg sim "$FABRIQUE_BIN" sim --listen "127.0.0.1:$sim_port" --ttft-ms 0 \
        --tokens-per-second "$(speed "$ANSWER_SECONDS")" --capacity 1000000 \
        --max-tokens-default "$ANSWER_TOKENS" --models "$MODEL"
    SIM_PID=$LAST_PID
    SIM_URL=http://127.0.0.1:$sim_port/v1
    configure "$ANSWER_SECONDS"
    serve
    log "$N streaming sends at once over $PROTOCOL, through /chat/send then straight to /v1/chat/completions"
    PROTOCOL=$PROTOCOL CONNECTIONS=$CONNECTIONS client crowd "$N" "$PROBES"
    stop_pid "$SIM_PID"
    SIM_URL=
}

# ------------------------------------------------------------------------------ main
mkdir -p "$LOGS"
need_tools curl python3
build_fabrique
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $PROFILE build"
for section in $SECTIONS; do
    case $section in
        long) configure 0.001; serve; long ;;
        crowd) crowd ;;
        answer) ECHO_PORT=$(( PORT + 2 )); configure 0.001; serve; answer ;;
        paint) configure 1; serve; paint ;;
        *) die "unknown section $section (long, crowd, answer, paint)" ;;
    esac
    stop_pid "$SERVER_PID"
done
