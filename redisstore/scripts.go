package redisstore

import "github.com/redis/rueidis"

// The store's keys share the hash tag {prefix}, so every script touches a single slot and
// runs on Redis Cluster too:
//
//	{prefix}:clock     hash: c = the clock, f = the floor (entries born before it are stale)
//	{prefix}:t:<tag>   the clock value at which tag was last invalidated (its stamp)
//	{prefix}:e:<key>   hash: b = born, t = tags joined by "\n", v = the encoded entry
//	{prefix}:inv       the channel invalidations are published on, for local tiers
//	{prefix}:r:<key>   a record (Store.PutRecord), which no script reads
//
// Every message the scripts publish starts with "c " (a clock value, then the tags, one a
// line) or "f " (a clock value: the new floor); local tiers also publish heartbeats, "h <id>
// <sent> <mac>". A local tier takes a message whose first word is anything else for another
// program's and ignores it (local.go), so a later format must keep c or f as the first word
// of whatever invalidates, or use another channel.
//
// An entry is valid while its born is not below the floor and each of its tags has a stamp
// not above born. A tag without a stamp counts as invalidated: a stamp that is missing when
// an entry is read was evicted (or never written), and the entries relying on it must go.
// Storing an entry creates the missing stamps of its tags at the current clock, and stores
// the entry only if it was born at that clock or later: a stamp missing at store time may
// have been evicted after an invalidation that the entry's rendering overlapped, and the
// script cannot tell. That costs at most one refused store per new (or evicted) tag, since
// the next rendering is born at that clock or later. Storing also extends every stamp's
// lifetime past the entry's (PEXPIRE … GT, Redis 7 or later).
//
// The clock is a hybrid logical clock: an invalidation moves it to max(clock+1, Redis time
// in µs), so it keeps increasing even if the clock key itself is lost. A clock that is
// missing or unreadable (something else wrote under its key) is recreated with the floor at
// Redis time, which condemns every older entry, and the new floor is published so that local
// tiers forget their older entries too.
//
// Values that are not ours (a string where a hash belongs, a stamp that is not a number…)
// never make a script fail: an unreadable entry or stamp counts as stale, and is replaced by
// the next store.

// clockLua reads (or recreates) the clock and the floor. channel is where a recreation is
// published.
const clockLua = `
local function clock(k, channel)
  local cf = redis.pcall('HMGET', k, 'c', 'f')
  if not cf.err then
    local c, f = tonumber(cf[1]), tonumber(cf[2])
    if c and f then return c, f end
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local s = string.format('%d', now)
  redis.call('DEL', k)
  redis.call('HSET', k, 'c', s, 'f', s)
  redis.call('PUBLISH', channel, 'f ' .. s)
  return now, now
end

-- stamp returns the clock value of a stamp, or nil if it is missing or unreadable.
local function stamp(k)
  local s = redis.pcall('GET', k)
  if type(s) ~= 'string' then return nil end
  return tonumber(s)
end
`

// getLua returns {now, 0} for a miss, {now, 1} for a stale entry (which it deletes) and
// {now, 2, value, pttl} for a valid one.
// KEYS: clock, entry. ARGV: tag key prefix, channel.
var getLua = rueidis.NewLuaScript(clockLua + `
local now, floor = clock(KEYS[1], ARGV[2])
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
    local s = stamp(ARGV[1] .. tag)
    if (not s) or s > born then
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

// setLua stores entries sharing one born and one set of tags, unless the floor or one of
// the tags' stamps is above born, or a stamp had to be (re)created above born. It returns 1
// if it stored them.
// KEYS: clock, entry keys…. ARGV: tag key prefix, born, entry ttl ms, stamp ttl ms, tags
// joined by "\n", channel, then one encoded entry per entry key.
var setLua = rueidis.NewLuaScript(clockLua + `
local now, floor = clock(KEYS[1], ARGV[6])
local born = tonumber(ARGV[2])
if born < floor then return 0 end
local ns = string.format('%d', now)
local refuse = false
for tag in string.gmatch(ARGV[5], '[^\n]+') do
  local k = ARGV[1] .. tag
  local s = stamp(k)
  if not s then
    -- missing (never written, or evicted after an invalidation we cannot see) or not ours
    redis.call('SET', k, ns, 'PX', ARGV[4])
    if born < now then refuse = true end
  elseif s > born then
    return 0
  else
    redis.call('PEXPIRE', k, ARGV[4], 'GT')
  end
end
if refuse then return 0 end
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('HSET', KEYS[i], 'b', ARGV[2], 't', ARGV[5], 'v', ARGV[5 + i])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
return 1
`)

// invalidateLua advances the clock, stamps the tags with it and publishes them; with no tags
// it moves the floor instead, condemning every entry born before. It returns the new clock.
// KEYS: clock. ARGV: tag key prefix, stamp ttl ms, channel, tags….
var invalidateLua = rueidis.NewLuaScript(clockLua + `
local now = clock(KEYS[1], ARGV[3])
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
