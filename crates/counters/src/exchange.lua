-- Publishes what one replica served each entity of each pool, and answers what the other live
-- replicas served them (crate `counters`, `service.rs`).
--
-- KEYS[1]: the sorted set of live replicas (`allot.lua` renews it). KEYS[1 + i]: pool i's hash,
-- `<replica>|<entity>` → weighted tokens served, since the replica started.
-- ARGV: replica, how long the hashes outlive their last write in ms, then per pool the number of
-- entities and, for each, its id and weighted tokens.
-- Answers per pool a flat list of the other live replicas' fields and values.
local me, keep = ARGV[1], tonumber(ARGV[2])
local live = KEYS[1]
local answer = {}
local a = 3
for i = 2, #KEYS do
  local key = KEYS[i]
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('HSET', key, me .. '|' .. ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  redis.call('PEXPIRE', key, keep)
  local others = {}
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    local field = fields[j]
    local replica = string.match(field, '^(.*)|')
    if replica ~= me then
      if replica and redis.call('ZSCORE', live, replica) then
        others[#others + 1] = field
        others[#others + 1] = fields[j + 1]
      else
        -- A replica whose lease ran out: what it served was heard while it lived.
        redis.call('HDEL', key, field)
      end
    end
  end
  answer[#answer + 1] = others
end
return answer
