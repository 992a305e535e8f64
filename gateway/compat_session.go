package gateway

import (
	"maps"
	"slices"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
)

// GatewayWorkerSessionKey is the session key under which a client's
// session, as a PHP BusinessWorker or GatewayClient serialize()d it, is
// kept byte for byte.
//
// A gateway session is a map[string]string. When PHP sets a session, the
// map becomes: this key holding PHP's bytes, plus one key per entry of the
// PHP array whose value is a string (so Go workers read those as usual).
// When a PHP peer reads the session, the gateway starts from PHP's bytes
// and applies what Go changed since: a string key whose value differs or
// that Go added is set (as a PHP string), a string key that Go deleted is
// removed; values PHP stored as ints, floats, bools, null or arrays are
// kept untouched unless Go set the same key. A session no Go code changed
// goes back to PHP exactly as PHP wrote it; a session only Go wrote reaches
// PHP as an array of strings in key order.
const GatewayWorkerSessionKey = "__gatewayworker_php"

// phpSession returns a session map in PHP's serialize() form ("" for an
// empty session, as GatewayWorker keeps it).
func phpSession(m map[string]string) []byte {
	if len(m) == 0 {
		return nil
	}
	raw, hasRaw := m[GatewayWorkerSessionKey]
	var arr *gwproto.Array
	if hasRaw && raw != "" {
		if v, err := gwproto.Unmarshal([]byte(raw)); err == nil {
			arr, _ = v.(*gwproto.Array)
		}
		if arr == nil && len(m) == 1 {
			return []byte(raw) // not an array, nothing from Go: as PHP wrote it
		}
	}
	changed := false
	if arr == nil {
		arr, changed = gwproto.NewArray(), true
	}
	// Entries PHP stored as strings that Go deleted or changed.
	kept := arr.Entries[:0:0]
	for _, e := range arr.Entries {
		s, isStr := e.Val.(string)
		if !isStr {
			if v, set := m[e.Key.String()]; set && e.Key.String() != GatewayWorkerSessionKey {
				e.Val, changed = v, true // Go set a key PHP holds as non-string
			}
			kept = append(kept, e)
			continue
		}
		v, ok := m[e.Key.String()]
		switch {
		case !ok:
			changed = true // deleted by Go
			continue
		case v != s:
			e.Val, changed = v, true
		}
		kept = append(kept, e)
	}
	arr.Entries = kept
	// Keys Go added.
	var added []string
	for k := range m {
		if k == GatewayWorkerSessionKey {
			continue
		}
		if _, ok := arr.Get(gwproto.StrKey(k)); !ok {
			added = append(added, k)
		}
	}
	if len(added) > 0 {
		slices.Sort(added)
		for _, k := range added {
			arr.Set(gwproto.StrKey(k), m[k])
		}
		changed = true
	}
	if !changed {
		return []byte(raw)
	}
	if arr.Len() == 0 && !hasRaw {
		return nil
	}
	return gwproto.MustMarshal(arr)
}

// sessionFromPHP returns the session map for PHP's serialize()d bytes; nil
// for an empty session. Bytes that are not a serialized array are kept
// under GatewayWorkerSessionKey alone.
func sessionFromPHP(raw []byte) map[string]string {
	if len(raw) == 0 {
		return nil
	}
	m := map[string]string{GatewayWorkerSessionKey: string(raw)}
	v, err := gwproto.Unmarshal(raw)
	if err != nil {
		return m
	}
	if arr, ok := v.(*gwproto.Array); ok {
		for _, e := range arr.Entries {
			if s, ok := e.Val.(string); ok {
				m[e.Key.String()] = s
			}
		}
	}
	return m
}

// mergePHPSession applies PHP's array_replace_recursive(current, update)
// to a session map and returns the new map.
func mergePHPSession(cur map[string]string, update []byte) map[string]string {
	v, err := gwproto.Unmarshal(update)
	upd, ok := v.(*gwproto.Array)
	if err != nil || !ok {
		return maps.Clone(cur)
	}
	base := gwproto.NewArray()
	if b := phpSession(cur); len(b) > 0 {
		if v, err := gwproto.Unmarshal(b); err == nil {
			if a, ok := v.(*gwproto.Array); ok {
				base = a
			}
		}
	}
	base.ReplaceRecursive(upd)
	return sessionFromPHP(gwproto.MustMarshal(base))
}

// sessionCache remembers the PHP form of the last session seen, so that the
// events of a client whose session did not change cost no decoding.
type sessionCache struct {
	raw  string
	proj map[string]string // sessionFromPHP(raw)
	out  []byte            // raw as bytes
}

// encode is phpSession(m), from the cache when m is exactly what PHP wrote
// last. The result must not be modified.
func (sc *sessionCache) encode(m map[string]string) []byte {
	raw, ok := m[GatewayWorkerSessionKey]
	if !ok {
		return phpSession(m)
	}
	if raw != sc.raw || sc.proj == nil {
		sc.raw, sc.proj, sc.out = raw, sessionFromPHP([]byte(raw)), []byte(raw)
	}
	if len(sc.proj) != len(m) {
		return phpSession(m)
	}
	for k, v := range sc.proj {
		if w, ok := m[k]; !ok || w != v {
			return phpSession(m)
		}
	}
	return sc.out
}
