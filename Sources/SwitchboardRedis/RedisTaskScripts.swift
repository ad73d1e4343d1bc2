import SwitchboardRESP

/// The Lua scripts of `RedisTaskBackend`: each transition is one script, so Redis runs it as one
/// atomic step and no crash of any server leaves a task half-moved.
///
/// Layout (`P` is the prefix, `sb` by default):
/// - `P:task:<id>` — hash, the task (fields below);
/// - `P:{<queue>}:pending` — zset of ready ids, scored `(255 − priority) × 2^44 + sequence`, so
///   ZPOPMIN gives the highest priority, oldest first; a release puts a task back with its score;
/// - `P:{<queue>}:due` — zset of scheduled and retrying ids by due time (ms);
/// - `P:{<queue>}:counts` — hash status → tasks, kept exact by every script;
/// - `P:{<queue>}:created` — zset of ids by creation sequence (listing by queue);
/// - `P:queues`, `P:paused` — sets of queue names; `P:seq` — the sequence counter;
/// - `P:leases` — zset of running ids by lease expiry; `P:finished` — completed and cancelled
///   ids by finish time (retention); `P:dead` — dead ids by burial sequence;
/// - `P:created`, `P:run:<run>` — ids by creation sequence (listing); `P:runs` — run ids by the
///   sequence of their newest task (the list of recent runs);
/// - `P:idem:<key>` — `<expires_ms>:<id>`, with a PX a minute past that expiry;
/// - `P:locks-running` — lock keys of running tasks; `P:lockwait:<key>` — list of ids parked
///   behind a held key, in parking order (a parked task is `pending` with `pk` set);
/// - `P:ready` — pub/sub channel: the name of a queue that just gained ready (or due) work.
///
/// Task fields: id q ty run pri md pl st at mr to lk nb ca ua sa fa w le res err errs(JSON lines,
/// oldest first) en(error count) — the API's fields — and lid (the random half of the lease id,
/// short so that small tasks keep Redis's compact listpack encoding) sc (its score in
/// `pending` when last taken, to give it back its place) rs (ready since; absent: created_at)
/// due cr (cancel requested) ds (burial sequence) pk (parked). Absent `at` and `ua` read as 0
/// and created_at; `le` and `lid` count only while the task runs. Times are Unix milliseconds.
///
/// Queue keys carry the queue as a hash tag; the scripts also touch global keys and task keys
/// found while they run, so they need one Redis (or one primary), not a Cluster.
enum RedisTaskScripts {
    /// Helpers every script starts with. ARGV[1] is always the prefix.
    static let prelude = """
        local P = ARGV[1]
        local function tk(id) return P .. ':task:' .. id end
        local function qk(q, part) return P .. ':{' .. q .. '}:' .. part end
        local function gk(part) return P .. ':' .. part end
        -- Lua numbers print with 14 digits; scores and times need all of theirs.
        local function num(x) return string.format('%.0f', x) end
        local function readyScore(pri, seq) return (255 - pri) * 17592186044416 + seq end
        local function setStatus(id, q, old, new, now)
          redis.call('HSET', tk(id), 'st', new, 'ua', now)
          if old ~= new then
            redis.call('HINCRBY', qk(q, 'counts'), old, -1)
            redis.call('HINCRBY', qk(q, 'counts'), new, 1)
          end
        end
        local function makeReady(id, q, score, since, now, old)
          redis.call('HSET', tk(id), 'rs', since)
          redis.call('HDEL', tk(id), 'due')
          setStatus(id, q, old, 'pending', now)
          redis.call('ZADD', qk(q, 'pending'), score, id)
        end
        local function makeDue(id, q, at, now, old, status)
          redis.call('HSET', tk(id), 'due', num(at))
          setStatus(id, q, old, status, now)
          redis.call('ZADD', qk(q, 'due'), num(at), id)
        end
        local function finish(id, q, old, status, now)
          redis.call('HSET', tk(id), 'fa', now)
          setStatus(id, q, old, status, now)
          if status == 'dead' then
            local ds = redis.call('INCR', gk('seq'))
            redis.call('HSET', tk(id), 'ds', ds)
            redis.call('ZADD', gk('dead'), ds, id)
          else
            redis.call('ZADD', gk('finished'), now, id)
          end
        end
        -- A lock key came free: the first task parked behind it goes back to its queue, in its place.
        local function unpark(lk)
          local list = gk('lockwait:' .. lk)
          while true do
            local id = redis.call('LPOP', list)
            if not id then return end
            local f = redis.call('HMGET', tk(id), 'st', 'pk', 'q', 'sc')
            if f[1] == 'pending' and f[2] == '1' then
              redis.call('HDEL', tk(id), 'pk')
              redis.call('ZADD', qk(f[3], 'pending'), f[4], id)
              redis.call('PUBLISH', gk('ready'), f[3])
              return
            end
          end
        end
        local function endLease(id, lk)
          redis.call('ZREM', gk('leases'), id)
          redis.call('HDEL', tk(id), 'lid', 'le')
          if lk then
            redis.call('SREM', gk('locks-running'), lk)
            unpark(lk)
          end
        end
        -- The task's state when `lid` is the secret of its live lease; else nil and 'notfound' or 'conflict'.
        local function leased(id, lid)
          local f = redis.call('HMGET', tk(id), 'st', 'lid', 'q', 'lk', 'cr', 'pri', 'sc', 'at', 'w')
          if not f[1] then return nil, 'notfound' end
          if f[1] ~= 'running' or f[2] ~= lid then return nil, 'conflict' end
          return f
        end
        local function recordFailure(id, message, now, attempt, worker, limit)
          local started = redis.call('HGET', tk(id), 'sa')
          local entry = '{"attempt":' .. attempt .. ',"at_ms":' .. now .. ',"message":' .. cjson.encode(message)
            .. ',"worker_id":' .. (worker and cjson.encode(worker) or 'null') .. ',"started_ms":' .. (started or 'null') .. '}'
          local errs = redis.call('HGET', tk(id), 'errs')
          if errs then errs = errs .. '\\n' .. entry else errs = entry end
          local n = redis.call('HINCRBY', tk(id), 'en', 1)
          while n > limit do
            errs = string.sub(errs, string.find(errs, '\\n', 1, true) + 1)
            n = n - 1
          end
          redis.call('HSET', tk(id), 'errs', errs, 'en', n, 'err', message)
        end
        -- The end of a failed attempt (a worker's report or an expired lease), decided by the engine.
        local function applyFailure(id, f, message, now, decision, retryAt, limit)
          recordFailure(id, message, now, f[8], f[9], limit)
          endLease(id, f[4])
          if f[5] == '1' then
            finish(id, f[3], 'running', 'cancelled', now)
          elseif decision == 'retry' then
            makeDue(id, f[3], math.max(tonumber(retryAt), tonumber(now)), now, 'running', 'retrying')
            redis.call('PUBLISH', gk('ready'), f[3])
          else
            finish(id, f[3], 'running', 'dead', now)
          end
        end
        local function promote(q, now)
          local due = redis.call('ZRANGEBYSCORE', qk(q, 'due'), '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
          for i = 1, #due, 2 do
            local id = due[i]
            redis.call('ZREM', qk(q, 'due'), id)
            local f = redis.call('HMGET', tk(id), 'st', 'pri')
            makeReady(id, q, num(readyScore(tonumber(f[2]), redis.call('INCR', gk('seq')))), due[i + 1], now, f[1])
          end
          return #due > 0
        end
        -- Forgets a task everywhere; index entries of a task already gone are dropped too.
        local function remove(id)
          local f = redis.call('HMGET', tk(id), 'q', 'st', 'run')
          redis.call('ZREM', gk('created'), id)
          redis.call('ZREM', gk('finished'), id)
          redis.call('ZREM', gk('dead'), id)
          if not f[1] then return false end
          redis.call('DEL', tk(id))
          redis.call('ZREM', qk(f[1], 'created'), id)
          if f[3] then
            redis.call('ZREM', gk('run:' .. f[3]), id)
            if redis.call('ZCARD', gk('run:' .. f[3])) == 0 then redis.call('ZREM', gk('runs'), f[3]) end
          end
          redis.call('HINCRBY', qk(f[1], 'counts'), f[2], -1)
          return true
        end
        """

    static func script(_ body: String) -> RedisScript { RedisScript(prelude + "\n" + body) }

    /// ARGV: P, now, task count, then per task: id, queue, priority, status (pending, or
    /// scheduled when due later), not_before, idempotency key, its expiry, run id, fresh (1: the
    /// engine made the id up, so it cannot exist yet), field count, and that many field/value
    /// pairs — the whole new hash. Attempts, `ua` and `rs` start
    /// absent, read as 0 and the creation time.
    /// Returns per task `{1}` (stored) or `{0, fields…}` (the task already known).
    ///
    /// The hot path: per new task one HSET (and an EXISTS when the client chose the id); index entries, counts and wake-ups
    /// are gathered and written once per batch.
    static let enqueue = script("""
        local nowText = ARGV[2]
        local now = tonumber(nowText)
        local out = {}
        local created, byQueue, byRun = {'ZADD', gk('created')}, {}, {}
        local seq = nil
        local i = 4
        while i <= #ARGV do
          local id, q, pri, status, nb, ikey, iexp, run, fresh, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3],
            ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], tonumber(ARGV[i + 9])
          local fields = i + 10
          i = fields + 2 * n
          local existing = nil
          if ikey ~= '' then
            local known = redis.call('GET', gk('idem:' .. ikey))
            if known then
              local sep = string.find(known, ':', 1, true)
              local kid = string.sub(known, sep + 1)
              if tonumber(string.sub(known, 1, sep - 1)) > now and redis.call('EXISTS', tk(kid)) == 1 then existing = kid end
            end
          end
          if not existing and fresh ~= '1' and redis.call('EXISTS', tk(id)) == 1 then existing = id end
          if existing then
            out[#out + 1] = {0, redis.call('HGETALL', tk(existing))}
          else
            -- Sequences for the whole batch at once; duplicates leave harmless gaps.
            if not seq then seq = redis.call('INCRBY', gk('seq'), ARGV[3]) - tonumber(ARGV[3]) end
            seq = seq + 1
            local qs = byQueue[q]
            if not qs then
              qs = {created = {'ZADD', qk(q, 'created')}, pending = {'ZADD', qk(q, 'pending')}, due = {'ZADD', qk(q, 'due')},
                    npending = 0, nscheduled = 0}
              byQueue[q] = qs
            end
            -- The fields come whole from the caller, status (and due time) included.
            redis.call('HSET', tk(id), unpack(ARGV, fields, fields + 2 * n - 1))
            if status == 'scheduled' then
              qs.due[#qs.due + 1] = nb; qs.due[#qs.due + 1] = id
              qs.nscheduled = qs.nscheduled + 1
            else
              qs.pending[#qs.pending + 1] = num(readyScore(pri, seq)); qs.pending[#qs.pending + 1] = id
              qs.npending = qs.npending + 1
            end
            created[#created + 1] = seq; created[#created + 1] = id
            qs.created[#qs.created + 1] = seq; qs.created[#qs.created + 1] = id
            if run ~= '' then
              byRun[run] = byRun[run] or {'ZADD', gk('run:' .. run)}
              byRun[run][#byRun[run] + 1] = seq; byRun[run][#byRun[run] + 1] = id
            end
            if ikey ~= '' then
              redis.call('SET', gk('idem:' .. ikey), iexp .. ':' .. id, 'PX', math.max(tonumber(iexp) - now, 0) + 60000)
            end
            out[#out + 1] = {1}
          end
        end
        if #created > 2 then redis.call(unpack(created)) end
        for run, zadd in pairs(byRun) do
          redis.call(unpack(zadd))
          redis.call('ZADD', gk('runs'), 'GT', zadd[#zadd - 1], run)
        end
        for q, qs in pairs(byQueue) do
          redis.call(unpack(qs.created))
          if #qs.pending > 2 then redis.call(unpack(qs.pending)) end
          if #qs.due > 2 then redis.call(unpack(qs.due)) end
          if qs.npending > 0 then redis.call('HINCRBY', qk(q, 'counts'), 'pending', qs.npending) end
          if qs.nscheduled > 0 then redis.call('HINCRBY', qk(q, 'counts'), 'scheduled', qs.nscheduled) end
          redis.call('SADD', gk('queues'), q)
          redis.call('PUBLISH', gk('ready'), q)
        end
        return out
        """)

    /// ARGV: P, now, worker, max, lease ms (−1: the task's timeout + grace), grace ms, queue
    /// count, queues…, then `max` random lease-id prefixes.
    /// Returns `{lease id, expiry, fields…}` per leased task, the fields as they were just before.
    static let lease = script("""
        local nowText, worker, max = ARGV[2], ARGV[3], tonumber(ARGV[4])
        local now = tonumber(nowText)
        local duration, grace, nq = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
        local prefixes = 8 + nq
        local out = {}
        local leases = {'ZADD', gk('leases')}
        for qi = 8, 7 + nq do
          if #out >= max then break end
          local q = ARGV[qi]
          if redis.call('SISMEMBER', gk('paused'), q) == 0 then
            promote(q, now)
            local taken = 0
            while #out < max do
              local popped = redis.call('ZPOPMIN', qk(q, 'pending'), max - #out)
              if #popped == 0 then break end
              for p = 1, #popped, 2 do
                local id = popped[p]
                local key = tk(id)
                -- Read whole once: the reply needs it, and it holds the lock key, timeout and attempts.
                local h = redis.call('HGETALL', key)
                local lk, to, at = nil, nil, 0
                for k = 1, #h, 2 do
                  local name = h[k]
                  if name == 'lk' then lk = h[k + 1] elseif name == 'to' then to = h[k + 1] elseif name == 'at' then at = tonumber(h[k + 1]) end
                end
                -- `sc` keeps the task's place for a release or an unpark.
                if lk and redis.call('SISMEMBER', gk('locks-running'), lk) == 1 then
                  redis.call('HSET', key, 'pk', '1', 'sc', popped[p + 1])
                  redis.call('RPUSH', gk('lockwait:' .. lk), id)
                else
                  if lk then redis.call('SADD', gk('locks-running'), lk) end
                  local secret = ARGV[prefixes + #out]
                  local expires = num(now + (duration >= 0 and duration or (tonumber(to) + grace)))
                  redis.call('HSET', key, 'at', at + 1, 'lid', secret, 'sa', nowText, 'w', worker,
                    'le', expires, 'st', 'running', 'ua', nowText, 'sc', popped[p + 1])
                  leases[#leases + 1] = expires; leases[#leases + 1] = id
                  taken = taken + 1
                  -- A lock-keyed task's fencing token: one counter for every key, so strictly
                  -- increasing per key (0: no key).
                  local token = 0
                  if lk then token = redis.call('INCR', gk('fence')) end
                  -- The fields as they were before this lease: the caller applies the lease to them.
                  out[#out + 1] = {secret .. id, expires, h, token}
                end
              end
            end
            if taken > 0 then
              redis.call('HINCRBY', qk(q, 'counts'), 'pending', -taken)
              redis.call('HINCRBY', qk(q, 'counts'), 'running', taken)
            end
          end
        end
        if #leases > 2 then redis.call(unpack(leases)) end
        return out
        """)

    /// ARGV: P, lease secret, task id, now, lease ms (−1: timeout + grace), grace ms.
    static let heartbeat = script("""
        local f, problem = leased(ARGV[3], ARGV[2])
        if not f then return {problem} end
        local id, now, duration = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
        local expires = now + (duration >= 0 and duration or (tonumber(redis.call('HGET', tk(id), 'to')) + tonumber(ARGV[6])))
        redis.call('HSET', tk(id), 'le', num(expires), 'ua', now)
        redis.call('ZADD', gk('leases'), num(expires), id)
        return {'ok', num(expires), f[5] == '1' and 1 or 0}
        """)

    /// ARGV: P, then per completion: lease secret, task id, now, has result (0/1), result,
    /// send the task back (0/1: the caller has it from its lease unless it leased elsewhere).
    /// Returns per completion `{'ok'}` or `{'ok', fields…}`, `{'notfound'}` or `{'conflict'}`.
    /// Completions arrive here in batches (`GroupCommit`): index and count updates go out once.
    static let complete = script("""
        local out, leases, finished, counts = {}, {'ZREM', gk('leases')}, {'ZADD', gk('finished')}, {}
        for i = 2, #ARGV, 6 do
          local lid, id, now = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          local key = tk(id)
          local f = redis.call('HMGET', key, 'st', 'lid', 'q', 'lk')
          if not f[1] then
            out[#out + 1] = {'notfound'}
          elseif f[1] ~= 'running' or f[2] ~= lid then
            out[#out + 1] = {'conflict'}
          else
            -- `lid` and `le` may stay: they mean nothing once the task is not running (no
            -- earlier attempt can have left a result, since only a completion writes one).
            if ARGV[i + 3] == '1' then
              redis.call('HSET', key, 'res', ARGV[i + 4], 'st', 'completed', 'ua', now, 'fa', now)
            else
              redis.call('HSET', key, 'st', 'completed', 'ua', now, 'fa', now)
            end
            leases[#leases + 1] = id
            finished[#finished + 1] = now; finished[#finished + 1] = id
            counts[f[3]] = (counts[f[3]] or 0) + 1
            if f[4] then
              -- Freed at once, so a later completion in this batch sees the key's next task parked.
              redis.call('SREM', gk('locks-running'), f[4])
              unpark(f[4])
            end
            if ARGV[i + 5] == '1' then out[#out + 1] = {'ok', redis.call('HGETALL', key)} else out[#out + 1] = {'ok'} end
          end
        end
        if #leases > 2 then
          redis.call(unpack(leases))
          redis.call(unpack(finished))
        end
        for q, n in pairs(counts) do
          redis.call('HINCRBY', qk(q, 'counts'), 'running', -n)
          redis.call('HINCRBY', qk(q, 'counts'), 'completed', n)
        end
        return out
        """)

    /// ARGV: P, lease secret, task id, now, message, decision (retry/bury), retry at, error history limit.
    static let fail = script("""
        local f, problem = leased(ARGV[3], ARGV[2])
        if not f then return {problem} end
        applyFailure(ARGV[3], f, ARGV[5], ARGV[4], ARGV[6], ARGV[7], tonumber(ARGV[8]))
        return {'ok', redis.call('HGETALL', tk(ARGV[3]))}
        """)

    /// ARGV: P, now, error history limit, then per lease: task id, lease secret, decision, retry at.
    /// Applies only to leases still live and expired by `now`, so concurrent reapers reap once.
    static let reap = script("""
        local now, limit = ARGV[2], tonumber(ARGV[3])
        local out = {}
        for i = 4, #ARGV, 4 do
          local id = ARGV[i]
          local f = leased(id, ARGV[i + 1])
          local expires = f and tonumber(redis.call('HGET', tk(id), 'le'))
          if f and expires and expires <= tonumber(now) then
            local message = 'lease expired: worker ' .. (f[9] or 'unknown') .. ' stopped heartbeating'
            applyFailure(id, f, message, now, ARGV[i + 2], ARGV[i + 3], limit)
            out[#out + 1] = redis.call('HGETALL', tk(id))
          end
        end
        return out
        """)

    /// ARGV: P, now, limit. Expired leases: `{id, fields…}` for the engine to decide on.
    static let expired = script("""
        local ids = redis.call('ZRANGEBYSCORE', gk('leases'), '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
        local out = {}
        for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', tk(id)) end
        return out
        """)

    /// ARGV: P, lease secret, task id, now, the most releases (past it: `toomany`, nothing else changed).
    static let release = script("""
        local f, problem = leased(ARGV[3], ARGV[2])
        if not f then return {problem} end
        local id, now = ARGV[3], ARGV[4]
        if f[5] ~= '1' and redis.call('HINCRBY', tk(id), 'rl', 1) > tonumber(ARGV[5]) then
          return {'toomany'}
        end
        endLease(id, f[4])
        if f[5] == '1' then
          finish(id, f[3], 'running', 'cancelled', now)
        else
          redis.call('HINCRBY', tk(id), 'at', -1)
          redis.call('HDEL', tk(id), 'w')
          makeReady(id, f[3], f[7], now, now, 'running')
          redis.call('PUBLISH', gk('ready'), f[3])
        end
        return {'ok', redis.call('HGETALL', tk(id))}
        """)

    /// ARGV: P, task id, now.
    static let cancel = script("""
        local id, now = ARGV[2], ARGV[3]
        local f = redis.call('HMGET', tk(id), 'st', 'q', 'lk', 'pk')
        if not f[1] then return {'notfound'} end
        local st, q = f[1], f[2]
        if st == 'scheduled' or st == 'retrying' then
          redis.call('ZREM', qk(q, 'due'), id)
          redis.call('HDEL', tk(id), 'due')
          finish(id, q, st, 'cancelled', now)
        elseif st == 'pending' then
          if f[4] == '1' then
            redis.call('HDEL', tk(id), 'pk')
          else
            redis.call('ZREM', qk(q, 'pending'), id)
            -- This task may have been the one unparked for its key: pass the key on.
            if f[3] and redis.call('SISMEMBER', gk('locks-running'), f[3]) == 0 then unpark(f[3]) end
          end
          finish(id, q, st, 'cancelled', now)
        elseif st == 'running' then
          redis.call('HSET', tk(id), 'cr', '1', 'ua', now)
        elseif st ~= 'cancelled' then
          return {'conflict', st}
        end
        return {'ok', redis.call('HGETALL', tk(id))}
        """)

    /// ARGV: P, index key, cursor (exclusive score, or '-inf'), limit, queue, status, type, run
    /// ('' = any). Scans at most 5,000 entries; returns `{next cursor or '', {fields…}…}`.
    static let list = script("""
        local index, cursor, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
        local fq, fst, fty, frun, ftool, fmeta = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
        local wanted = fmeta ~= '' and cjson.decode(fmeta) or nil
        -- The payload and metadata are JSON: decoded only when a filter asks about them.
        local function deep(id)
          if ftool == '' and not wanted then return true end
          local g = redis.call('HMGET', tk(id), 'pl', 'md')
          if ftool ~= '' then
            local ok, payload = pcall(cjson.decode, g[1] or 'null')
            if not ok or type(payload) ~= 'table' or payload.tool_name ~= ftool then return false end
          end
          if wanted then
            local ok, md = pcall(cjson.decode, g[2] or '{}')
            if not ok or type(md) ~= 'table' then return false end
            for k, v in pairs(wanted) do if md[k] ~= v then return false end end
          end
          return true
        end
        local items, scanned, last, more = {}, 0, nil, false
        local from = cursor == '-inf' and '-inf' or ('(' .. cursor)
        while scanned < 5000 and not more do
          local batch = redis.call('ZRANGEBYSCORE', index, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 200)
          if #batch == 0 then break end
          for i = 1, #batch, 2 do
            scanned = scanned + 1
            local f = redis.call('HMGET', tk(batch[i]), 'q', 'st', 'ty', 'run')
            if f[1] and (fq == '' or f[1] == fq) and (fst == '' or f[2] == fst) and (fty == '' or f[3] == fty)
              and (frun == '' or f[4] == frun) and deep(batch[i]) then
              if #items == limit then more = true break end
              items[#items + 1] = redis.call('HGETALL', tk(batch[i]))
            end
            last = batch[i + 1]
          end
          from = '(' .. batch[#batch]
        end
        local next = ''
        if more or scanned >= 5000 then next = last end
        return {next, items}
        """)

    /// ARGV: P, task id, now. Dead → pending with attempts reset.
    static let requeueDead = script("""
        local id, now = ARGV[2], ARGV[3]
        local f = redis.call('HMGET', tk(id), 'st', 'q', 'pri')
        if f[1] ~= 'dead' then return {'notfound'} end
        redis.call('ZREM', gk('dead'), id)
        redis.call('HSET', tk(id), 'at', 0, 'rl', 0)
        redis.call('HDEL', tk(id), 'fa', 'w', 'cr', 'ds')
        makeReady(id, f[2], num(readyScore(tonumber(f[3]), redis.call('INCR', gk('seq')))), now, now, 'dead')
        redis.call('PUBLISH', gk('ready'), f[2])
        return {'ok', redis.call('HGETALL', tk(id))}
        """)

    /// ARGV: P, now, action (requeue/delete), queue, type ('' = any), cursor (burial sequence,
    /// exclusive, or '-inf'). At most 500 tasks and 5,000 looked at per call; returns
    /// `{handled, next cursor or ''}`.
    static let sweepDead = script("""
        local now, action, fq, fty = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
        local handled, scanned = 0, 0
        local from = ARGV[6] == '-inf' and '-inf' or ('(' .. ARGV[6])
        while handled < 500 and scanned < 5000 do
          local batch = redis.call('ZRANGEBYSCORE', gk('dead'), from, '+inf', 'WITHSCORES', 'LIMIT', 0, 200)
          if #batch == 0 then return {handled, ''} end
          for i = 1, #batch, 2 do
            local id = batch[i]
            scanned = scanned + 1
            local f = redis.call('HMGET', tk(id), 'q', 'ty', 'pri')
            if f[1] and (fq == '' or f[1] == fq) and (fty == '' or f[2] == fty) then
              if action == 'delete' then
                remove(id)
              else
                redis.call('ZREM', gk('dead'), id)
                redis.call('HSET', tk(id), 'at', 0, 'rl', 0)
                redis.call('HDEL', tk(id), 'fa', 'w', 'cr', 'ds')
                makeReady(id, f[1], num(readyScore(tonumber(f[3]), redis.call('INCR', gk('seq')))), now, now, 'dead')
                redis.call('PUBLISH', gk('ready'), f[1])
              end
              handled = handled + 1
            end
          end
          from = '(' .. batch[#batch]
        end
        return {handled, string.sub(from, 2)}
        """)

    /// ARGV: P, task id.
    static let deleteDead = script("""
        if redis.call('HGET', tk(ARGV[2]), 'st') ~= 'dead' then return 0 end
        remove(ARGV[2])
        return 1
        """)

    /// ARGV: P. Returns `{name, paused, {status, count…}}` per queue.
    /// Per queue also when its longest-waiting ready task became ready: the lowest sequence of
    /// the first entry of each priority band present (a few ZRANGEBYSCOREs, not a scan).
    static let queues = script("""
        local band = 17592186044416
        local function oldestReady(q)
          local key, from, best, bestSeq = qk(q, 'pending'), '-inf', nil, nil
          while true do
            local top = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
            if #top == 0 then break end
            local b = math.floor(tonumber(top[2]) / band)
            local seq = tonumber(top[2]) - b * band
            if bestSeq == nil or seq < bestSeq then best, bestSeq = top[1], seq end
            from = num((b + 1) * band)
          end
          if best == nil then return false end
          local f = redis.call('HMGET', tk(best), 'rs', 'ca')
          return f[1] or f[2]
        end
        local out = {}
        for _, q in ipairs(redis.call('SMEMBERS', gk('queues'))) do
          out[#out + 1] = {q, redis.call('SISMEMBER', gk('paused'), q), redis.call('HGETALL', qk(q, 'counts')), oldestReady(q)}
        end
        return out
        """)

    /// ARGV: P, queue, paused (0/1).
    static let setPaused = script("""
        local q = ARGV[2]
        redis.call('SADD', gk('queues'), q)
        if ARGV[3] == '1' then
          redis.call('SADD', gk('paused'), q)
        elseif redis.call('SREM', gk('paused'), q) == 1 then
          redis.call('PUBLISH', gk('ready'), q)
        end
        return redis.call('HGETALL', qk(q, 'counts'))
        """)

    /// ARGV: P, now. Returns the queues that gained ready tasks.
    static let promoteDue = script("""
        local out = {}
        for _, q in ipairs(redis.call('SMEMBERS', gk('queues'))) do
          if promote(q, ARGV[2]) then
            out[#out + 1] = q
            redis.call('PUBLISH', gk('ready'), q)
          end
        end
        return out
        """)

    /// ARGV: P, queues… (none: every queue, and lease expiries). Returns the earliest time or nil.
    static let nextDeadline = script("""
        local earliest = nil
        local function consider(key)
          local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
          if first[2] and (not earliest or tonumber(first[2]) < earliest) then earliest = tonumber(first[2]) end
        end
        if #ARGV > 1 then
          for i = 2, #ARGV do
            if redis.call('SISMEMBER', gk('paused'), ARGV[i]) == 0 then consider(qk(ARGV[i], 'due')) end
          end
        else
          for _, q in ipairs(redis.call('SMEMBERS', gk('queues'))) do consider(qk(q, 'due')) end
          consider(gk('leases'))
        end
        return earliest and num(earliest) or false
        """)

    /// ARGV: P, finished before (ms), keep at most. Drops up to 1,000 per call; returns
    /// `{dropped, more (0/1)}`.
    static let trim = script("""
        local before, keep = ARGV[2], tonumber(ARGV[3])
        local ids = redis.call('ZRANGEBYSCORE', gk('finished'), '-inf', '(' .. before, 'LIMIT', 0, 1000)
        local dropped = 0
        for _, id in ipairs(ids) do if remove(id) then dropped = dropped + 1 end end
        if #ids == 1000 then return {dropped, 1} end
        local excess = redis.call('ZCARD', gk('finished')) - keep
        if excess > 0 then
          local n = math.min(excess, 1000 - #ids)
          for _, id in ipairs(redis.call('ZRANGE', gk('finished'), 0, n - 1)) do
            if remove(id) then dropped = dropped + 1 end
          end
          if excess > n then return {dropped, 1} end
        end
        return {dropped, 0}
        """)
}
