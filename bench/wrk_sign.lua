-- wrk script for bench/load.py: replays signed Slack slash-command requests.
--
--   wrk -s bench/wrk_sign.lua URL -- BODIES THREADS MARKER
--
-- Lua has no HMAC-SHA256, so load.py signs every request beforehand: BODIES
-- holds one request a line, "timestamp<TAB>signature<TAB>form body", each
-- body with its own response_url key, all signed seconds before the run (well
-- within Slack's 5-minute window). Thread i of THREADS sends lines i, i+THREADS,
-- ..., in order, so no two threads send the same request. A response whose
-- body holds MARKER (the looked-up address) is an answer given inline.
-- done() prints one line, "WRK {json}", that load.py reads.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local path, count = args[1], tonumber(args[2])
   marker = args[3]
   prepared = {}
   local line_number = 0
   for line in io.lines(path) do
      if line_number % count == id then
         local stamp, signature, body = line:match("^(%d+)\t(v0=%x+)\t(.*)$")
         prepared[#prepared + 1] = wrk.format("POST", nil, {
            ["Host"] = wrk.headers["Host"],
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)",
            ["Accept"] = "application/json,*/*",
            ["X-Slack-Request-Timestamp"] = stamp,
            ["X-Slack-Signature"] = signature,
         }, body)
      end
      line_number = line_number + 1
   end
   issued, wrapped, answered, ok = 0, 0, 0, 0
   verified = id ~= 0
end

function request()
   if not verified then
      -- wrk calls thread 0's request() once before the run, only to check
      -- that it parses: that request is never sent, so it is not counted.
      verified = true
      return prepared[1]
   end
   issued = issued + 1
   if issued > #prepared then
      wrapped = wrapped + 1 -- a body sent again: its key is no longer unique
   end
   return prepared[(issued - 1) % #prepared + 1]
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   end
   if body and string.find(body, marker, 1, true) then
      answered = answered + 1
   end
end

function done(summary, latency, requests)
   local issued_all, wrapped_all, answered_all, ok_all = 0, 0, 0, 0
   local per_thread = {}
   for _, thread in ipairs(threads) do
      per_thread[thread:get("id") + 1] = thread:get("issued")
      issued_all = issued_all + thread:get("issued")
      wrapped_all = wrapped_all + thread:get("wrapped")
      answered_all = answered_all + thread:get("answered")
      ok_all = ok_all + thread:get("ok")
   end
   local errors = summary.errors
   io.write(string.format(
      'WRK {"duration_us": %d, "completed": %d, "issued": %d, "wrapped": %d, '
         .. '"ok": %d, "answered": %d, "connect": %d, "read": %d, "write": %d, '
         .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
         .. '"per_thread": [%s]}\n',
      summary.duration, summary.requests, issued_all, wrapped_all, ok_all, answered_all,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(99), latency.max, table.concat(per_thread, ",")))
end
