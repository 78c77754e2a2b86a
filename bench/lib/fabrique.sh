# bench/lib/fabrique.sh: start Fabrique for a benchmark and give it a bench user. Sourced, not run.
# Needs bench/lib/processes.sh sourced, and FABRIQUE_BIN, FABRIQUE_CONFIG, FABRIQUE_ADDR,
# FABRIQUE_URL, WORK, LOGS, RESULTS set. GOVERNANCE=on also gives the user's key a rate limit and
# the user a monthly token budget (the configuration brings the data policy and the seat pool).

json_field() {         # the top-level string FIELD of the (last) JSON object on stdin, log lines tolerated
    python3 -c '
import json, sys
field, text = sys.argv[1], sys.stdin.read()
decoder, found, position = json.JSONDecoder(), None, text.find("{")
while position != -1:
    try:
        doc, end = decoder.raw_decode(text, position)
    except ValueError:
        position = text.find("{", position + 1)
        continue
    if isinstance(doc, dict) and isinstance(doc.get(field), str) and doc[field]:
        found = doc[field]
    position = text.find("{", end)
if found is None:
    sys.exit("no string field %r in: %s" % (field, text.strip()[:300]))
print(found)
' "$1"
}

start_fabrique() {      # a fresh Fabrique on FABRIQUE_CONFIG; BEARER becomes a bench user's key
    local admin_key data=$WORK/fabrique-data
    rm -rf "$data"
    mkdir -p "$data"
    admin_key=fabk_$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    log "starting fabrique serve --config $FABRIQUE_CONFIG --listen $FABRIQUE_ADDR"
    FABRIQUE_ADMIN_KEY=$admin_key start_bg fabrique "$FABRIQUE_BIN" serve --config "$FABRIQUE_CONFIG" \
        --listen "$FABRIQUE_ADDR" --data-dir "$data"
    TARGET_PID=$LAST_PID
    wait_ready "$FABRIQUE_URL/readyz" "$TARGET_PID" 60 \
        || { tail -n 30 "$LOGS/fabrique.log" >&2; die "fabrique did not answer 200 on /readyz within 60 s"; }
    bench_user "$admin_key"
    log "fabrique ready (pid $TARGET_PID), inference key ${BEARER:0:12}..."
}

bench_user() {          # bench_user ADMIN_KEY : entity `bench`, a user and an inference key, in BEARER
    local admin=("$FABRIQUE_BIN" admin --url "$FABRIQUE_URL" --key "$1") user_id key_id created
    "${admin[@]}" entities create --slug bench --name "Benchmark" > "$RESULTS/fabrique-entity.json"
    user_id=$("${admin[@]}" users create --entity bench --user-name bench-user --email bench-user@example.org | json_field id)
    created=$("${admin[@]}" keys create --user-id "$user_id")
    BEARER=$(json_field key <<< "$created")
    if [[ ${GOVERNANCE:-off} == on ]]; then
        # Limits and a budget far above what a run spends: checked and charged on every request,
        # never refusing one.
        key_id=$(json_field id <<< "$created")
        "${admin[@]}" limits set --key-id "$key_id" --requests-per-minute 100000000 \
            --tokens-per-minute 100000000000 > /dev/null
        "${admin[@]}" budgets set --user-id "$user_id" --period month --unit tokens \
            --hard-limit 1000000000000 --soft-threshold-percent 80 > /dev/null
    fi
}
