-- Replaces one admission's estimates with the real consumption (crate `counters`, `script.rs`):
-- token buckets refunded or debited the difference, budgets' reservations released in the period
-- of the admission and the real amount added to the period in force now.
local now = tonumber(ARGV[1])
local est_tokens, act_tokens = tonumber(ARGV[2]), tonumber(ARGV[3])
local est_cost, act_cost = tonumber(ARGV[4]), tonumber(ARGV[5])
local scopes = tonumber(ARGV[6])
local W = 60000
local a, k = 7, 1
for i = 1, scopes do
  local tl, nb = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local key = KEYS[k]
  k = k + 1
  local v = redis.call('HMGET', key, 'tl', 'tm', 'tf')
  if tl > 0 and v[1] and tonumber(v[1]) == tl then
    local m, f = tonumber(v[2]), tonumber(v[3])
    if act_tokens >= est_tokens then
      -- Debited from the later of the TAT and now, as a charge is.
      if m < now then m, f = now, 0 end
      f = f + (act_tokens - est_tokens) * W
    else
      f = f - (est_tokens - act_tokens) * W
    end
    m = m + math.floor(f / tl)
    redis.call('HSET', key, 'tm', m, 'tf', f % tl)
    redis.call('PEXPIRE', key, math.max(m - now, 0) + W)
  end
  for b = 1, nb do
    local unit, seed, expire = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    a = a + 3
    local admitted_in, settled_in = KEYS[k], KEYS[k + 1]
    k = k + 2
    local estimate, actual = est_tokens, act_tokens
    if unit == 1 then estimate, actual = est_cost, act_cost end
    if redis.call('EXISTS', admitted_in) == 1 then
      local left = tonumber(redis.call('HINCRBY', admitted_in, 'r', -estimate))
      if left < 0 then redis.call('HSET', admitted_in, 'r', 0) end
    end
    if redis.call('EXISTS', settled_in) == 0 then
      redis.call('HSET', settled_in, 's', seed, 'r', 0)
      redis.call('PEXPIREAT', settled_in, expire)
    end
    redis.call('HINCRBY', settled_in, 's', actual)
  end
end
return 1
