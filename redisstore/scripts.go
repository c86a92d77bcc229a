package redisstore

import "github.com/redis/rueidis"

// The store's keys share the hash tag {prefix}, so every script touches a single slot and
// runs on Redis Cluster too:
//
//	{prefix}:clock     hash: c = the clock, f = the floor (entries born before it are stale)
//	{prefix}:t:<tag>   the clock value at which tag was last invalidated (its stamp)
//	{prefix}:e:<key>   hash: b = born, t = tags joined by "\n", v = the encoded entry
//	{prefix}:inv       the channel invalidations are published on, for local tiers
//
// An entry is valid while its born is not below the floor and each of its tags has a stamp
// not above born. A tag without a stamp counts as invalidated: storing an entry creates the
// stamps of its tags that are missing (at the entry's born, so that it is valid) and extends
// every stamp's lifetime past the entry's, so a stamp that is missing when an entry is read
// was evicted, and the entries relying on it must go too. The one case this cannot see is a
// stamp evicted between an invalidation and the store of a response whose rendering started
// before it: the stamp would be the most recently written key, which an LRU policy evicts
// last. The clock is a hybrid logical clock: an
// invalidation moves it to max(clock+1, Redis time in µs), so it keeps increasing even if
// the clock key itself is lost (it is then recreated with the floor at Redis time, which
// condemns every older entry).

// clockLua reads (or recreates) the clock and the floor.
const clockLua = `
local function clock(k)
  local cf = redis.call('HMGET', k, 'c', 'f')
  if not cf[1] then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local s = string.format('%d', now)
    redis.call('HSET', k, 'c', s, 'f', s)
    return now, now
  end
  return tonumber(cf[1]), tonumber(cf[2] or '0')
end
`

// getLua returns {now, 0} for a miss, {now, 1} for a stale entry (which it deletes) and
// {now, 2, value, pttl} for a valid one.
// KEYS: clock, entry. ARGV: tag key prefix.
var getLua = rueidis.NewLuaScript(clockLua + `
local now, floor = clock(KEYS[1])
local ns = string.format('%d', now)
local h = redis.pcall('HMGET', KEYS[2], 'b', 't', 'v')
if h.err then
  -- not a hash: something else wrote under our key; treat it as a stale entry
  redis.call('DEL', KEYS[2])
  return {ns, 1}
end
if not h[3] then return {ns, 0} end
local born = tonumber(h[1])
local stale = (born == nil) or born < floor
if not stale and h[2] then
  for tag in string.gmatch(h[2], '[^\n]+') do
    local s = redis.call('GET', ARGV[1] .. tag)
    if (not s) or tonumber(s) > born then
      stale = true
      break
    end
  end
end
if stale then
  redis.call('DEL', KEYS[2])
  return {ns, 1}
end
return {ns, 2, h[3], redis.call('PTTL', KEYS[2])}
`)

// setLua stores entries sharing one born and one set of tags, unless one of the tags was
// invalidated after born. It returns 1 if it stored them.
// KEYS: clock, entry keys…. ARGV: tag key prefix, born, entry ttl ms, stamp ttl ms, tags
// joined by "\n", then one encoded entry per entry key.
var setLua = rueidis.NewLuaScript(clockLua + `
local now, floor = clock(KEYS[1])
local born = tonumber(ARGV[2])
if born < floor then return 0 end
for tag in string.gmatch(ARGV[5], '[^\n]+') do
  local k = ARGV[1] .. tag
  local s = redis.call('GET', k)
  if not s then
    redis.call('SET', k, ARGV[2], 'PX', ARGV[4])
  elseif tonumber(s) > born then
    return 0
  else
    redis.call('PEXPIRE', k, ARGV[4])
  end
end
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('HSET', KEYS[i], 'b', ARGV[2], 't', ARGV[5], 'v', ARGV[4 + i])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
return 1
`)

// invalidateLua advances the clock, stamps the tags with it and publishes them; with no tags
// it moves the floor instead, condemning every entry born before. It returns the new clock.
// KEYS: clock. ARGV: tag key prefix, stamp ttl ms, channel, tags….
var invalidateLua = rueidis.NewLuaScript(clockLua + `
local now = clock(KEYS[1])
local t = redis.call('TIME')
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local c = now + 1
if us > c then c = us end
local cs = string.format('%d', c)
redis.call('HSET', KEYS[1], 'c', cs)
if #ARGV == 3 then
  redis.call('HSET', KEYS[1], 'f', cs)
  redis.call('PUBLISH', ARGV[3], 'f ' .. cs)
  return cs
end
local msg = {'c ' .. cs}
for i = 4, #ARGV do
  redis.call('SET', ARGV[1] .. ARGV[i], cs, 'PX', ARGV[2])
  msg[#msg + 1] = ARGV[i]
end
redis.call('PUBLISH', ARGV[3], table.concat(msg, '\n'))
return cs
`)
