package gwproto

import (
	"bytes"
	"fmt"
	"strconv"
)

// A PHP value decoded from serialize()'s format is one of:
//
//	nil        PHP null
//	bool       PHP bool
//	int64      PHP int
//	Float      PHP float, kept as its text so that it re-encodes unchanged
//	string     PHP string (any bytes)
//	*Array     PHP array
//
// Objects, references and anything else are refused (GatewayWorker itself
// unserializes with allowed_classes => false).
type Value = any

// Raw is a value already in serialize()'s form; Marshal writes it as it
// is (a session GatewayWorker keeps serialized).
type Raw []byte

// Float is a PHP float as serialize() wrote it ("0.5", "1.0E+25", "INF").
type Float string

// Key is a PHP array key: an int or a string. PHP turns a string key that
// is a canonical decimal int into an int key; StrKey does the same.
type Key struct {
	Int   int64
	Str   string
	IsStr bool
}

// IntKey returns the int key i.
func IntKey(i int64) Key { return Key{Int: i} }

// StrKey returns the key PHP would use for the string s: an int key when s
// is a canonical decimal int ("5", "-3", not "05" or "+5").
func StrKey(s string) Key {
	if i, ok := canonicalInt(s); ok {
		return Key{Int: i}
	}
	return Key{Str: s, IsStr: true}
}

// String returns the key as PHP prints it.
func (k Key) String() string {
	if k.IsStr {
		return k.Str
	}
	return strconv.FormatInt(k.Int, 10)
}

func canonicalInt(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	if s == "0" {
		return 0, true
	}
	t := s
	if t[0] == '-' {
		t = t[1:]
	}
	if t == "" || t[0] < '1' || t[0] > '9' {
		return 0, false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// Entry is one key and value of an Array.
type Entry struct {
	Key Key
	Val Value
}

// Array is a PHP array: ordered entries with unique keys.
type Array struct {
	Entries []Entry
}

// NewArray returns an empty array.
func NewArray() *Array { return &Array{} }

// Len returns the number of entries.
func (a *Array) Len() int { return len(a.Entries) }

func (a *Array) index(k Key) int {
	for i := range a.Entries {
		if a.Entries[i].Key == k {
			return i
		}
	}
	return -1
}

// Get returns the value of k.
func (a *Array) Get(k Key) (Value, bool) {
	if i := a.index(k); i >= 0 {
		return a.Entries[i].Val, true
	}
	return nil, false
}

// Set sets k to v, in place if k exists, else at the end.
func (a *Array) Set(k Key, v Value) {
	if i := a.index(k); i >= 0 {
		a.Entries[i].Val = v
		return
	}
	a.Entries = append(a.Entries, Entry{Key: k, Val: v})
}

// Append adds v with the next int key (PHP's $a[] = v).
func (a *Array) Append(v Value) {
	next := int64(0)
	for _, e := range a.Entries {
		if !e.Key.IsStr && e.Key.Int >= next {
			next = e.Key.Int + 1
		}
	}
	a.Entries = append(a.Entries, Entry{Key: IntKey(next), Val: v})
}

// Delete removes k.
func (a *Array) Delete(k Key) {
	if i := a.index(k); i >= 0 {
		a.Entries = append(a.Entries[:i], a.Entries[i+1:]...)
	}
}

// ReplaceRecursive merges b into a as PHP's array_replace_recursive(a, b):
// a key of b replaces a's value, except that two arrays merge recursively.
// a is modified; b's arrays are copied, not shared.
func (a *Array) ReplaceRecursive(b *Array) {
	for _, e := range b.Entries {
		if nb, ok := e.Val.(*Array); ok {
			if cur, ok := a.Get(e.Key); ok {
				if na, ok := cur.(*Array); ok {
					cp := na.clone()
					cp.ReplaceRecursive(nb)
					a.Set(e.Key, cp)
					continue
				}
			}
			a.Set(e.Key, nb.clone())
			continue
		}
		a.Set(e.Key, e.Val)
	}
}

func (a *Array) clone() *Array {
	c := &Array{Entries: make([]Entry, len(a.Entries))}
	for i, e := range a.Entries {
		if na, ok := e.Val.(*Array); ok {
			e.Val = na.clone()
		}
		c.Entries[i] = e
	}
	return c
}

// Marshal appends PHP's serialize() form of v to dst. Values of other Go
// types are encoded as follows: int and uint32 as int, []byte as a string,
// Raw as it is. It returns an error for anything else.
func Marshal(dst []byte, v Value) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "N;"...), nil
	case bool:
		if x {
			return append(dst, "b:1;"...), nil
		}
		return append(dst, "b:0;"...), nil
	case int64:
		return appendInt(dst, x), nil
	case int:
		return appendInt(dst, int64(x)), nil
	case uint32:
		return appendInt(dst, int64(x)), nil
	case Float:
		dst = append(dst, "d:"...)
		dst = append(dst, x...)
		return append(dst, ';'), nil
	case string:
		return appendString(dst, x), nil
	case []byte:
		return appendString(dst, string(x)), nil
	case Raw:
		return append(dst, x...), nil
	case *Array:
		dst = append(dst, "a:"...)
		dst = strconv.AppendInt(dst, int64(len(x.Entries)), 10)
		dst = append(dst, ":{"...)
		for _, e := range x.Entries {
			if e.Key.IsStr {
				dst = appendString(dst, e.Key.Str)
			} else {
				dst = appendInt(dst, e.Key.Int)
			}
			var err error
			if dst, err = Marshal(dst, e.Val); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	default:
		return dst, fmt.Errorf("gwproto: cannot serialize %T", v)
	}
}

// MustMarshal is Marshal for values built of the supported types only.
func MustMarshal(v Value) []byte {
	b, err := Marshal(nil, v)
	if err != nil {
		panic(err)
	}
	return b
}

func appendInt(dst []byte, i int64) []byte {
	dst = append(dst, "i:"...)
	dst = strconv.AppendInt(dst, i, 10)
	return append(dst, ';')
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, "s:"...)
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ":\""...)
	dst = append(dst, s...)
	return append(dst, "\";"...)
}

// maxDepth bounds the nesting of arrays Unmarshal accepts.
const maxDepth = 64

// Unmarshal decodes one serialize()d value that must fill b.
func Unmarshal(b []byte) (Value, error) {
	d := decoder{b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(b)-d.i)
	}
	return v, nil
}

type decoder struct {
	b []byte
	i int
}

func (d *decoder) errorf(format string, a ...any) error {
	return fmt.Errorf("%w: serialized value at byte %d: %s", ErrMalformed, d.i, fmt.Sprintf(format, a...))
}

func (d *decoder) expect(s string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return d.errorf("want %q", s)
	}
	d.i += len(s)
	return nil
}

// until returns the bytes up to (not including) stop and skips stop.
func (d *decoder) until(stop byte, max int) ([]byte, error) {
	j := bytes.IndexByte(d.b[d.i:min(len(d.b), d.i+max+1)], stop)
	if j < 0 {
		return nil, d.errorf("want %q", stop)
	}
	s := d.b[d.i : d.i+j]
	d.i += j + 1
	return s, nil
}

func (d *decoder) int(stop byte) (int64, error) {
	s, err := d.until(stop, 21)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, d.errorf("bad int %q", s)
	}
	return n, nil
}

func (d *decoder) str() (string, error) {
	n, err := d.int(':')
	if err != nil {
		return "", err
	}
	if n < 0 || n > int64(len(d.b)-d.i) {
		return "", d.errorf("string length %d", n)
	}
	if err := d.expect("\""); err != nil {
		return "", err
	}
	if int64(len(d.b)-d.i) < n+2 {
		return "", d.errorf("string of %d bytes past the end", n)
	}
	s := string(d.b[d.i : d.i+int(n)])
	d.i += int(n)
	if err := d.expect("\";"); err != nil {
		return "", err
	}
	return s, nil
}

func (d *decoder) value(depth int) (Value, error) {
	if d.i+2 > len(d.b) {
		return nil, d.errorf("truncated")
	}
	t := d.b[d.i]
	if t == 'N' {
		d.i++
		return nil, d.expect(";")
	}
	if d.b[d.i+1] != ':' {
		return nil, d.errorf("want ':' after %q", t)
	}
	d.i += 2
	switch t {
	case 'b':
		n, err := d.int(';')
		if err != nil || (n != 0 && n != 1) {
			return nil, d.errorf("bad bool")
		}
		return n == 1, nil
	case 'i':
		return d.int(';')
	case 'd':
		s, err := d.until(';', 64)
		if err != nil {
			return nil, err
		}
		switch string(s) {
		case "INF", "-INF", "NAN":
		default:
			if _, err := strconv.ParseFloat(string(s), 64); err != nil {
				return nil, d.errorf("bad float %q", s)
			}
		}
		return Float(s), nil
	case 's':
		return d.str()
	case 'a':
		if depth >= maxDepth {
			return nil, d.errorf("arrays nested deeper than %d", maxDepth)
		}
		n, err := d.int(':')
		if err != nil {
			return nil, err
		}
		// Each entry takes at least 8 bytes ("i:0;N;" is 6, plus "}").
		if n < 0 || n > int64(len(d.b)-d.i)/4 {
			return nil, d.errorf("array of %d entries", n)
		}
		if err := d.expect("{"); err != nil {
			return nil, err
		}
		a := &Array{Entries: make([]Entry, 0, n)}
		seen := make(map[Key]struct{}, n)
		for range n {
			k, err := d.key()
			if err != nil {
				return nil, err
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, dup := seen[k]; dup {
				a.Set(k, v)
				continue
			}
			seen[k] = struct{}{}
			a.Entries = append(a.Entries, Entry{Key: k, Val: v})
		}
		return a, d.expect("}")
	default:
		return nil, d.errorf("unsupported type %q", t)
	}
}

func (d *decoder) key() (Key, error) {
	if d.i+2 > len(d.b) || d.b[d.i+1] != ':' {
		return Key{}, d.errorf("want an array key")
	}
	t := d.b[d.i]
	d.i += 2
	switch t {
	case 'i':
		n, err := d.int(';')
		return IntKey(n), err
	case 's':
		s, err := d.str()
		return StrKey(s), err
	default:
		return Key{}, d.errorf("array key of type %q", t)
	}
}

// ScalarString returns v as PHP's (string) cast would for a string, int,
// bool or float, and false for null and arrays.
func ScalarString(v Value) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case bool:
		if x {
			return "1", true
		}
		return "", true
	case Float:
		return string(x), true
	}
	return "", false
}
