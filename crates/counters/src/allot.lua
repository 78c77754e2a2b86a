-- Renews one replica's lease and allots it its part of each endpoint's capacity (crate
-- `counters`, `allotment.rs`, states the rules and the bound).
--
-- KEYS[1]: the sorted set of live replicas, scored by when their lease runs out (Redis's clock).
-- KEYS[1 + i]: endpoint i's hash: `h:<replica>` the sequences the replica may be using there,
-- `d:<replica>` its demand.
-- ARGV: replica, lease in ms, then per endpoint its capacity, what the replica holds there (the
-- most it may be using until it applies this answer), and its demand.
-- Answers each endpoint's allotment, in order.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, lease = ARGV[1], tonumber(ARGV[2])
local live = KEYS[1]
redis.call('ZADD', live, now + lease, me)
redis.call('ZREMRANGEBYSCORE', live, '-inf', now)
-- Abandoned by every replica, the keys go by themselves.
local keep = lease * 10
redis.call('PEXPIRE', live, keep)

local function alive(replica)
  return replica == me or redis.call('ZSCORE', live, replica) ~= false
end

local answer = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local a = 3 + (i - 2) * 3
  local capacity, held, demand = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  redis.call('HSET', key, 'd:' .. me, demand)
  redis.call('PEXPIRE', key, keep)
  -- The others' holdings (a dead replica's are freed) and every live replica's weight: its
  -- demand up to the capacity, plus one so that idle replicas split the capacity evenly.
  local others, weights, names = 0, {}, {}
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    local field, value = fields[j], tonumber(fields[j + 1])
    local kind, replica = string.sub(field, 1, 1), string.sub(field, 3)
    if not alive(replica) then
      redis.call('HDEL', key, field)
    elseif kind == 'h' and replica ~= me then
      others = others + value
    elseif kind == 'd' then
      weights[replica] = math.min(value, capacity) + 1
      names[#names + 1] = replica
    end
  end
  table.sort(names)
  -- The target: one sequence each first (while there are enough), the rest by weight, by the
  -- largest remainder, ties to the smaller name.
  local reserved = math.min(capacity, #names)
  local rest, total = capacity - reserved, 0
  for _, r in ipairs(names) do total = total + weights[r] end
  local order, target, given = {}, 0, 0
  for n, r in ipairs(names) do
    local share = math.floor(rest * weights[r] / total)
    given = given + share
    order[n] = {r, (rest * weights[r]) % total, share + (n <= reserved and 1 or 0)}
  end
  table.sort(order, function(x, y)
    if x[2] ~= y[2] then return x[2] > y[2] end
    return x[1] < y[1]
  end)
  for n, entry in ipairs(order) do
    if entry[1] == me then
      target = entry[3] + ((n <= rest - given) and 1 or 0)
    end
  end
  -- Never more than the others leave free; what it may still be using stays held until its next
  -- renewal, so a replica lowers its use before another raises its own.
  local allotted = math.max(0, math.min(target, capacity - others))
  redis.call('HSET', key, 'h:' .. me, math.max(allotted, held))
  answer[#answer + 1] = allotted
end
return answer
