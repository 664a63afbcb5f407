-- wrk script for benches/load/run.sh: one file, the scenario chosen by the environment.
--
--   SCENARIO   lookup | get | create | deactivate | member_add | mix | list | cursor | ceiling
--   TOKEN      the bearer token
--   BASE       the base path, e.g. /scim/v2
--   FIXTURES   the directory seed.py wrote (user_ids, group_ids, target_group, cursors)
--   USERS      N, the number of seeded users (user i is load.user.<i>@example.com)
--   RUN_ID     a string unique to this run, so that created userNames never collide
--
-- No response() callback on purpose: it would make wrk hand every body to Lua and cost the
-- client CPU on a 2-core machine. Status codes are counted by wrk (non-2xx/3xx) and, per code,
-- from scimd's request log by run.sh.

local scenario = os.getenv("SCENARIO") or "ceiling"
local token = os.getenv("TOKEN") or ""
local base = os.getenv("BASE") or "/scim/v2"
local fixtures = os.getenv("FIXTURES") or "."
local users = tonumber(os.getenv("USERS") or "0")
local run_id = os.getenv("RUN_ID") or tostring(os.time())

local threads = {}
local thread_counter = 0

function setup(thread)
  thread:set("tid", thread_counter)
  thread_counter = thread_counter + 1
  table.insert(threads, thread)
end

local function read_lines(name)
  local t = {}
  local f = io.open(fixtures .. "/" .. name, "r")
  if not f then return t end
  for line in f:lines() do
    if line ~= "" then table.insert(t, line) end
  end
  f:close()
  return t
end

local ids, group_ids, cursors, target_group
local json_headers, get_headers
local counter = 0
local member_next = 0

function init(args)
  -- wrk's thread:set() values arrive as globals in the thread's Lua state.
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  get_headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/scim+json" }
  json_headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Accept"] = "application/scim+json",
    ["Content-Type"] = "application/scim+json",
  }
  if scenario ~= "ceiling" then
    ids = read_lines("user_ids")
    group_ids = read_lines("group_ids")
    cursors = read_lines("cursors")
    target_group = read_lines("target_group")[1]
  end
  -- member_add walks the pre-created users in order: thread t takes t, t+T, t+2T, ...
  nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  member_next = tid or 0
end

local PATCH_SCHEMA = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":['

local function rand_user() return math.random(0, users - 1) end
local function rand_id() return ids[math.random(1, #ids)] end

local function lookup()
  -- Entra's wire form: filter=userName+eq+%22<value>%22, '@' percent-encoded.
  return wrk.format("GET", base .. "/Users?filter=userName+eq+%22load.user." .. rand_user() ..
    "%40example.com%22", get_headers)
end

local function get_by_id()
  return wrk.format("GET", base .. "/Users/" .. rand_id(), get_headers)
end

local function create()
  counter = counter + 1
  local n = run_id .. "." .. scenario .. "." .. (tid or 0) .. "." .. counter
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",' ..
    '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],' ..
    '"externalId":"load-new-' .. n .. '","userName":"load.new.' .. n .. '@example.com","active":true,' ..
    '"displayName":"New User ' .. n .. '",' ..
    '"emails":[{"primary":true,"type":"work","value":"load.new.' .. n .. '@example.com"}],' ..
    '"meta":{"resourceType":"User"},' ..
    '"name":{"formatted":"New User","familyName":"User","givenName":"New"},"title":"Engineer",' ..
    '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Dept 7","employeeNumber":"' ..
    n .. '"},"roles":[]}'
  return wrk.format("POST", base .. "/Users", json_headers, body)
end

-- Entra's default form (INTEROP.md U8 b): capitalised op, the boolean as a string.
local function set_active(id, value)
  return wrk.format("PATCH", base .. "/Users/" .. id, json_headers,
    PATCH_SCHEMA .. '{"op":"Replace","path":"active","value":"' .. value .. '"}]}')
end

-- The mix deactivates random users, as a provisioning cycle would.
local function deactivate() return set_active(rand_id(), "False") end

-- The deactivate scenario walks the users in order (thread t takes t, t+T, ...) and flips
-- "active" on every pass: "False" on the first, "True" on the second, and so on. A PATCH that
-- changes nothing commits nothing, so random deactivations of the same 10,000 users became
-- mostly no-ops after a few seconds; here every request is a real, durable write.
local toggle_next = 0
local function toggle_active()
  local k = toggle_next * nthreads + (tid or 0)
  toggle_next = toggle_next + 1
  local value = (math.floor(k / #ids) % 2 == 0) and "False" or "True"
  return set_active(ids[k % #ids + 1], value)
end

local function attribute_patch()
  -- Entra's default (no flag) update: one Replace per changed attribute, explicit paths (U5/U7).
  local v = math.random(1, 1000000)
  return wrk.format("PATCH", base .. "/Users/" .. rand_id(), json_headers,
    PATCH_SCHEMA ..
    '{"op":"Replace","path":"title","value":"Title ' .. v .. '"},' ..
    '{"op":"Replace","path":"name.familyName","value":"Family' .. v .. '"},' ..
    '{"op":"Replace","path":"emails[type eq \\"work\\"].value","value":"changed' .. v .. '@example.com"}]}')
end

-- op "Add" or "Remove": the next user of this thread's walk, in or out of `group`.
local function member_change(group, op)
  local i = member_next % #ids + 1
  member_next = member_next + nthreads
  return wrk.format("PATCH", base .. "/Groups/" .. group, json_headers,
    PATCH_SCHEMA .. '{"op":"' .. op .. '","path":"members","value":[{"value":"' .. ids[i] .. '"}]}]}')
end

-- The member-add scenario: the target group grows by one member per request until every seeded
-- user is in it, then each seeded group in turn does. Adding a member who is already there changes
-- nothing and commits nothing, so re-adding would measure no-ops, not writes: once all G + 1 groups
-- are full, the same walk removes the members again, then adds them, and so on. (That assumes the
-- groups start empty, as run.sh seeds them.)
local function growing_member_add()
  local pass = math.floor(member_next / #ids)
  local slot = pass % (#group_ids + 1)
  local group = target_group
  if slot > 0 then group = group_ids[slot] end
  if math.floor(pass / (#group_ids + 1)) % 2 == 1 then return member_change(group, "Remove") end
  return member_change(group, "Add")
end

local function list_page()
  local start = math.random(1, math.max(1, users - 99))
  return wrk.format("GET", base .. "/Users?startIndex=" .. start .. "&count=100&excludedAttributes=groups", get_headers)
end

local function cursor_page()
  local c = cursors[math.random(1, #cursors)]
  return wrk.format("GET", base .. "/Users?cursor=" .. c .. "&count=100&excludedAttributes=groups", get_headers)
end

-- The Entra-like mix (per 100 requests): 50 lookups, 20 attribute PATCHes, 10 deactivations,
-- 10 creates, 10 member adds (into a random one of the G seeded groups).
local function mix()
  local r = math.random(1, 100)
  if r <= 50 then return lookup()
  elseif r <= 70 then return attribute_patch()
  elseif r <= 80 then return deactivate()
  elseif r <= 90 then return create()
  else return member_change(group_ids[math.random(1, #group_ids)], "Add") end
end

local ceiling_req

function request()
  if scenario == "lookup" then return lookup()
  elseif scenario == "get" then return get_by_id()
  elseif scenario == "create" then return create()
  elseif scenario == "deactivate" then return toggle_active()
  elseif scenario == "member_add" then return growing_member_add()
  elseif scenario == "mix" then return mix()
  elseif scenario == "list" then return list_page()
  elseif scenario == "cursor" then return cursor_page()
  else
    ceiling_req = ceiling_req or wrk.format("GET", "/", get_headers)
    return ceiling_req
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d max_us=%d mean_us=%.0f\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
