package tokenauth

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func verifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := New(Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignVerifyRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := Claims{Subject: "alice", ExpiresAt: now.Add(time.Hour).Unix(), IssuedAt: now.Unix()}
	tok, err := Sign(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifier(t).Verify(tok, now)
	if err != nil || got != c {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, c)
	}
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("not a compact base64url token: %s", tok)
	}
}

// A token minted elsewhere (by Python's hmac, header keys in another order,
// an extra claim) verifies: the format is plain JWT HS256.
func TestVerifyForeignToken(t *testing.T) {
	const tok = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMCwibmFtZSI6IkFsaWNlIn0.X8UCuvAYk1IL44e8oF1oFTPBUWw_8ylnW4FwARoenjQ"
	c, err := verifier(t).Verify(tok, time.Unix(1_700_000_000, 0))
	if err != nil || c.Subject != "alice" || c.ExpiresAt != 4102444800 {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := verifier(t)
	good, err := Sign(secret, Claims{Subject: "bob", ExpiresAt: now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	h, p, s := split3(good)
	enc := base64.RawURLEncoding.EncodeToString
	otherSecret, _ := Sign([]byte("another secret of 32 bytes......"), Claims{ExpiresAt: now.Add(time.Minute).Unix()})
	resign := func(header, payload string) string {
		signed := enc([]byte(header)) + "." + enc([]byte(payload))
		return signed + "." + enc(mac(secret, signed))
	}
	exp := itoa(now.Add(time.Minute).Unix())
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"two parts", h + "." + p, ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"padded signature", good + "=", ErrMalformed},
		{"other secret", otherSecret, ErrSignature},
		{"altered claims", h + "." + enc([]byte(`{"sub":"admin","exp":`+exp+`}`)) + "." + s, ErrSignature},
		{"truncated signature", h + "." + p + "." + s[:10], ErrSignature},
		{"alg none", enc([]byte(`{"alg":"none"}`)) + "." + p + ".", ErrAlgorithm},
		{"alg HS512", resign(`{"alg":"HS512"}`, `{"exp":`+exp+`}`), ErrAlgorithm},
		{"alg RS256", resign(`{"alg":"RS256"}`, `{"exp":`+exp+`}`), ErrAlgorithm},
		{"crit header", resign(`{"alg":"HS256","crit":["x"]}`, `{"exp":`+exp+`}`), ErrAlgorithm},
		{"typ other", resign(`{"alg":"HS256","typ":"at+jwt+x"}`, `{"exp":`+exp+`}`), ErrMalformed},
		{"header not JSON", resign(`alg`, `{"exp":`+exp+`}`), ErrMalformed},
		{"no exp", resign(`{"alg":"HS256"}`, `{"sub":"x"}`), ErrMalformed},
		{"exp not a number", resign(`{"alg":"HS256"}`, `{"exp":"soon"}`), ErrMalformed},
		{"claims not JSON", resign(`{"alg":"HS256"}`, `[`), ErrMalformed},
		{"expired", resign(`{"alg":"HS256"}`, `{"exp":`+itoa(now.Add(-31*time.Second).Unix())+`}`), ErrExpired},
		{"not yet valid", resign(`{"alg":"HS256"}`, `{"exp":`+exp+`,"nbf":`+itoa(now.Add(time.Minute).Unix())+`}`), ErrNotYetValid},
		{"too long", good + strings.Repeat("A", DefaultMaxTokenLen), ErrMalformed},
	}
	for _, tc := range cases {
		if _, err := v.Verify(tc.token, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// Within the leeway.
	within := resign(`{"alg":"HS256"}`, `{"exp":`+itoa(now.Add(-29*time.Second).Unix())+`,"nbf":`+itoa(now.Add(29*time.Second).Unix())+`}`)
	if _, err := v.Verify(within, now); err != nil {
		t.Errorf("token within the leeway: %v", err)
	}
}

func TestNewAndSignValidate(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Secret: []byte("short")},
		{Secret: secret, Leeway: -1},
		{Secret: secret, MaxTokenLen: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
	if _, err := Sign([]byte("short"), Claims{ExpiresAt: 1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Sign with a short secret: %v", err)
	}
	if _, err := Sign(secret, Claims{Subject: "x"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Sign without exp: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	good, _ := Sign(secret, Claims{Subject: "s", ExpiresAt: now.Add(time.Hour).Unix()})
	for _, s := range []string{good, "", "a.b.c", "..", good[:len(good)-2], strings.ToUpper(good),
		"eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.AAAA"} {
		f.Add(s)
	}
	v := verifier(f)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token, now)
		if err != nil {
			for _, want := range []error{ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired, ErrNotYetValid} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		// Only a token carrying a valid MAC passes: re-signing its claims
		// must verify to the same claims.
		again, err := Sign(secret, c)
		if err != nil {
			t.Fatal(err)
		}
		if c2, err := v.Verify(again, now); err != nil || c2 != c {
			t.Fatalf("claims %+v do not survive a round trip: %+v %v", c, c2, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	tok, _ := Sign(secret, Claims{Subject: "alice", ExpiresAt: now.Add(time.Hour).Unix()})
	v := verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func split3(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
