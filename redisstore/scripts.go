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
//	{prefix}:p:<tag>   "<stamp> <previous stamp> <Redis time in µs>": what soft lookups need
//	{prefix}:l:<key>   a lease (Store.Lease): a random token
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
// Soft invalidation (dumper.Store): an entry with a soft window has a field s, the window in
// ms, and w, the Redis time in µs it was stored at. When one of its tags has a stamp above
// born, the entry is kept while its age, the Redis time since the first invalidation after
// born, is within s: that first invalidation is the tag's current stamp when the tag's p key
// names that stamp and a previous one not above born, and its time is the one the p key
// gives. When the first invalidation is not known (the tag was invalidated again since, its
// stamp is missing, or its p key is missing, unreadable or out of date: a stamp given by a
// release without soft invalidation), the age counts from w, which that invalidation cannot
// precede, since storing refuses a condemned entry. An entry past its window, or born below
// the floor, is deleted as by a hard invalidation.
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

-- micros returns Redis time in µs.
local function micros()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`

// getLua returns {now, 0} for a miss, {now, 1} for a stale entry (which it deletes),
// {now, 2, value, pttl} for a valid one and {now, 3, value, pttl, age µs} for one within its
// soft window.
// KEYS: clock, entry. ARGV: tag key prefix, channel, soft key prefix.
var getLua = rueidis.NewLuaScript(clockLua + `
local now, floor = clock(KEYS[1], ARGV[2])
local ns = string.format('%d', now)
local h = redis.pcall('HMGET', KEYS[2], 'b', 't', 'v', 's', 'w')
if h.err then
  -- not a hash: something else wrote under our key; treat it as a stale entry
  redis.call('DEL', KEYS[2])
  return {ns, 1}
end
if not h[3] then return {ns, 0} end
local born = tonumber(h[1])
local window = tonumber(h[4])
local stored = tonumber(h[5])
local stale = (born == nil) or born < floor
local hard = stale
local since = nil
if not stale and h[2] then
  for tag in string.gmatch(h[2], '[^\n]+') do
    local s = stamp(ARGV[1] .. tag)
    if (not s) or s > born then
      stale = true
      if not window then
        hard = true
        break
      end
      local p = nil
      if s then p = redis.pcall('GET', ARGV[3] .. tag) end
      local at, prev, us = nil, nil, nil
      if type(p) == 'string' then
        at, prev, us = string.match(p, '^(%d+) (%d+) (%d+)$')
      end
      if (not at) or tonumber(at) ~= s or tonumber(prev) > born then
        -- The first invalidation since born is not known; it came after the entry was
        -- stored, since storing refuses a condemned entry.
        if not stored then
          hard = true
          break
        end
        us = stored
      end
      us = tonumber(us)
      if (not since) or us < since then since = us end
    end
  end
end
if stale and not hard then
  local age = micros() - since
  if age < 0 then age = 0 end
  if age <= window * 1000 then
    return {ns, 3, h[3], redis.call('PTTL', KEYS[2]), string.format('%d', age)}
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
// joined by "\n", channel, soft window ms (0: none), then one encoded entry per entry key.
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
  redis.call('HSET', KEYS[i], 'b', ARGV[2], 't', ARGV[5], 'v', ARGV[6 + i])
  if ARGV[7] ~= '0' then redis.call('HSET', KEYS[i], 's', ARGV[7], 'w', string.format('%d', micros())) end
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
return 1
`)

// invalidateLua advances the clock, stamps the tags with it and publishes them; with no tags
// it moves the floor instead, condemning every entry born before. For each tag it also
// writes the soft key: the new stamp, the one it replaces (0: none) and Redis time. It
// returns the new clock.
// KEYS: clock. ARGV: tag key prefix, stamp ttl ms, channel, soft key prefix, tags….
var invalidateLua = rueidis.NewLuaScript(clockLua + `
local now = clock(KEYS[1], ARGV[3])
local us = micros()
local c = now + 1
if us > c then c = us end
local cs = string.format('%d', c)
redis.call('HSET', KEYS[1], 'c', cs)
if #ARGV == 4 then
  redis.call('HSET', KEYS[1], 'f', cs)
  redis.call('PUBLISH', ARGV[3], 'f ' .. cs)
  return cs
end
local msg = {'c ' .. cs}
local uss = string.format('%d', us)
for i = 5, #ARGV do
  local k = ARGV[1] .. ARGV[i]
  local prev = stamp(k) or 0
  redis.call('SET', k, cs, 'PX', ARGV[2])
  redis.call('SET', ARGV[4] .. ARGV[i], cs .. ' ' .. string.format('%d', prev) .. ' ' .. uss, 'PX', ARGV[2])
  msg[#msg + 1] = ARGV[i]
end
redis.call('PUBLISH', ARGV[3], table.concat(msg, '\n'))
return cs
`)

// leaseLua takes a lease: it returns 1 if it set the key. KEYS: lease. ARGV: token, ttl ms.
var leaseLua = rueidis.NewLuaScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`)

// releaseLua gives a lease back if it is still the one taken with the token.
// KEYS: lease. ARGV: token.
var releaseLua = rueidis.NewLuaScript(`
if redis.pcall('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)
