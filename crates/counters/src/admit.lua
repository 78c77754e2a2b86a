-- Checks and charges one request against every rate limit and budget that applies to it, all or
-- none (crate `counters`, `script.rs`, describes the arguments and the answer).
--
-- A rate limit is GCRA, as in crate `admission`: its state is the theoretical arrival time (TAT),
-- kept as whole milliseconds `m` and a fraction `f` in ticks of 1/limit ms, so every number stays
-- an exact integer below 2^53 (limits up to 10^11 a minute). A budget is `s` spent and `r`
-- reserved in one period, whose start is part of the key.
local now = tonumber(ARGV[1])
local mode = tonumber(ARGV[2]) -- 0 whole, 1 request only, 2 tokens only, 3 request recorded
local est_tokens = tonumber(ARGV[3])
local est_cost = tonumber(ARGV[4])
local scopes = tonumber(ARGV[5])
local W = 60000

local function debt(key, p, limit)
  local v = redis.call('HMGET', key, p .. 'l', p .. 'm', p .. 'f')
  if not v[1] then return 0 end
  local old, m, f = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if old ~= limit then f = math.ceil(f * limit / old) end
  local d = (m - now) * limit + f
  if d < 0 then return 0 end
  return d
end

local function charge(key, p, limit, d, units)
  local total = d + units * W
  redis.call('HSET', key, p .. 'l', limit, p .. 'm', now + math.floor(total / limit),
    p .. 'f', total % limit)
  return total
end

-- Reads every rule, then decides, then (admitted) charges: nothing is written before the answer
-- is known.
local answer = {0}
local plan = {}
local a, k = 6, 1
local refused = false
for i = 1, scopes do
  local rl, tl, nb = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local key = KEYS[k]
  k = k + 1
  local item = {key = key, rl = rl, tl = tl, budgets = {}}
  local counts_request = mode ~= 2
  local counts_tokens = mode == 0 or mode == 2
  item.rd = (rl > 0 and counts_request) and debt(key, 'r', rl) or -1
  item.td = (tl > 0 and counts_tokens) and debt(key, 't', tl) or -1
  local r_over, t_over = -1, -1
  if item.rd >= 0 then r_over = item.rd + W - W * rl end
  if item.td >= 0 then
    if est_tokens > tl then t_over = -2 else t_over = item.td + est_tokens * W - W * tl end
  end
  if mode ~= 3 and (r_over > 0 or t_over > 0 or t_over == -2) then refused = true end
  table.insert(answer, item.rd)
  table.insert(answer, r_over)
  table.insert(answer, item.td)
  table.insert(answer, t_over)
  for b = 1, nb do
    local unit, limit, soft, seed, expire =
      tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]),
      tonumber(ARGV[a + 4])
    a = a + 5
    local bkey = KEYS[k]
    k = k + 1
    local amount = est_tokens
    if unit == 1 then amount = est_cost end
    local v = redis.call('HMGET', bkey, 's', 'r', 'w')
    local s, r = tonumber(v[1] or seed), tonumber(v[2] or 0)
    local fits = 1
    if mode == 0 or mode == 2 then
      if s + r + amount > limit then fits = 0; refused = true end
    end
    table.insert(item.budgets, {key = bkey, s = s, r = r, amount = amount, soft = soft,
      limit = limit, warned = v[3], expire = expire, fresh = not v[1]})
    table.insert(answer, fits)
    table.insert(answer, s + r + amount)
    table.insert(answer, 0)
  end
  table.insert(plan, item)
end
if refused then return answer end

answer[1] = 1
local at = 2
for _, item in ipairs(plan) do
  -- The key outlives its buckets' debts by a window: a full bucket needs no state.
  local ahead = 0
  if item.rd >= 0 then
    local total = charge(item.key, 'r', item.rl, item.rd, 1)
    answer[at] = total
    ahead = math.max(ahead, math.ceil(total / item.rl))
  end
  if item.td >= 0 then
    local total = charge(item.key, 't', item.tl, item.td, est_tokens)
    answer[at + 2] = total
    ahead = math.max(ahead, math.ceil(total / item.tl))
  end
  if item.rd >= 0 or item.td >= 0 then
    redis.call('PEXPIRE', item.key, ahead + W)
  end
  at = at + 4
  for _, b in ipairs(item.budgets) do
    if mode == 0 or mode == 2 then
      if b.fresh then redis.call('HSET', b.key, 's', b.s) end
      redis.call('HINCRBY', b.key, 'r', b.amount)
      redis.call('PEXPIREAT', b.key, b.expire)
      local committed = b.s + b.r + b.amount
      if b.soft > 0 and committed * 100 >= b.limit * b.soft and not b.warned then
        redis.call('HSET', b.key, 'w', 1)
        answer[at + 2] = 1
      end
    end
    at = at + 3
  end
end
return answer
