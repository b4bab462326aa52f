-- serve-kickoff.lua — wrk script for tests/bench/serve.sh: every request
-- kicks off a run (POST {"inputs": {}} to the URL given, which is
-- /v1/flows/FLOW/runs), and the answers are counted: 202 (accepted) and
-- anything else.  Completions are counted by serve.sh from /healthz.
wrk.method = "POST"
wrk.body = '{"inputs": {}}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  accepted = 0
  other = 0
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
  end
  io.write(string.format("serve-kickoff: accepted %d other %d\n", a, o))
end
