package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// fakeRefresher answers refreshes as told, counting them.
type fakeRefresher struct {
	calls  atomic.Int32
	tokens func() (*Tokens, error)
	delay  time.Duration
}

func (f *fakeRefresher) Refresh(_ context.Context, rt string) (*Tokens, error) {
	f.calls.Add(1)
	time.Sleep(f.delay)
	return f.tokens()
}

// fakeVerifier maps access tokens to principals.
type fakeVerifier map[string]Principal

func (f fakeVerifier) Verify(_ context.Context, raw string) (Principal, error) {
	p, ok := f[raw]
	if !ok {
		return Principal{}, invalid("bad token", nil)
	}
	return p, nil
}

func TestSessionRefresh(t *testing.T) {
	ada := Principal{Subject: "s-1", Username: "ada", Email: "ada@example.com", Name: "Ada", Roles: []string{"user"}, Issuer: "https://idp"}
	promoted := Principal{Subject: "s-1", Username: "ada-from-token", Roles: []string{"admin"}, Issuer: "https://idp"}
	mallory := Principal{Subject: "s-2", Username: "mallory", Roles: []string{"admin"}, Issuer: "https://idp"}
	verifier := fakeVerifier{"at-2": promoted, "at-mallory": mallory}
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	cases := []struct {
		name        string
		created     *Tokens // nil: access token for 5 min, refresh token for 30
		refreshTok  string
		advance     time.Duration
		answer      func(now time.Time) (*Tokens, error)
		wantErr     string
		wantCalls   int32
		wantRoles   []string
		wantDeleted bool
		wantExpires time.Time
	}{
		{name: "not due", refreshTok: "rt-1", advance: time.Minute, wantCalls: 0, wantRoles: []string{"user"}},
		{name: "due: refreshed, roles follow the new token, profile kept", refreshTok: "rt-1", advance: 4*time.Minute + 10*time.Second,
			answer: func(now time.Time) (*Tokens, error) {
				return &Tokens{AccessToken: "at-2", RefreshToken: "rt-2", Expiry: now.Add(5 * time.Minute), RefreshExpiry: now.Add(30 * time.Minute)}, nil
			},
			wantCalls: 1, wantRoles: []string{"admin"}, wantExpires: start.Add(4*time.Minute + 10*time.Second + 30*time.Minute)},
		{name: "refresh expiry beyond the maximum age is cut", refreshTok: "rt-1", advance: 4*time.Minute + 10*time.Second,
			answer: func(now time.Time) (*Tokens, error) {
				return &Tokens{AccessToken: "at-2", Expiry: now.Add(5 * time.Minute), RefreshExpiry: now.Add(48 * time.Hour)}, nil
			},
			wantCalls: 1, wantRoles: []string{"admin"}, wantExpires: start.Add(DefaultSessionMaxAge)},
		{name: "revoked at the IdP: the session ends", refreshTok: "rt-1", advance: 4*time.Minute + 10*time.Second,
			answer: func(time.Time) (*Tokens, error) {
				return nil, &oauth2.RetrieveError{Response: &http.Response{Status: "400 Bad Request"}, ErrorCode: "invalid_grant"}
			},
			wantErr: "the session has ended at the identity provider; sign in again", wantCalls: 1, wantDeleted: true},
		{name: "IdP down, token still valid: served as is", refreshTok: "rt-1", advance: 4*time.Minute + 10*time.Second,
			answer:    func(time.Time) (*Tokens, error) { return nil, errors.New("dial tcp: connection refused") },
			wantCalls: 1, wantRoles: []string{"user"}},
		{name: "IdP down, token expired: refused, kept for a retry", refreshTok: "rt-1", advance: 6 * time.Minute,
			answer:  func(time.Time) (*Tokens, error) { return nil, errors.New("dial tcp: connection refused") },
			wantErr: "the session could not be refreshed; sign in again", wantCalls: 1},
		{name: "refreshed token of someone else", refreshTok: "rt-1", advance: 4*time.Minute + 10*time.Second,
			answer: func(now time.Time) (*Tokens, error) {
				return &Tokens{AccessToken: "at-mallory", Expiry: now.Add(5 * time.Minute)}, nil
			},
			wantErr: "the session's identity changed; sign in again", wantCalls: 1, wantDeleted: true},
		{name: "refreshed token not valid", refreshTok: "rt-1", advance: 4*time.Minute + 10*time.Second,
			answer: func(now time.Time) (*Tokens, error) {
				return &Tokens{AccessToken: "garbage", Expiry: now.Add(5 * time.Minute)}, nil
			},
			wantErr: "the session has ended; sign in again", wantCalls: 1, wantDeleted: true},
		{name: "session about to end, IdP slides it: refreshed early", refreshTok: "rt-1", advance: 6 * time.Minute,
			created: &Tokens{AccessToken: "at-1", Expiry: start.Add(time.Hour), RefreshExpiry: start.Add(15 * time.Minute)},
			answer: func(now time.Time) (*Tokens, error) {
				return &Tokens{AccessToken: "at-2", Expiry: now.Add(time.Hour), RefreshExpiry: now.Add(15 * time.Minute)}, nil
			},
			wantCalls: 1, wantRoles: []string{"admin"}, wantExpires: start.Add(21 * time.Minute)},
		{name: "session at its maximum age: no early refresh", refreshTok: "rt-1", advance: DefaultSessionMaxAge - 5*time.Minute,
			created:   &Tokens{AccessToken: "at-1", Expiry: start.Add(DefaultSessionMaxAge)},
			wantCalls: 0, wantRoles: []string{"user"}},
		{name: "no refresh token: ends with the access token", refreshTok: "", advance: 5*time.Minute + time.Second,
			// The store's own expiry ends it (the entry is swept later).
			wantErr: "the session has ended; sign in again"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: start}
			store := newMemStore()
			store.now = c.now
			ref := &fakeRefresher{tokens: func() (*Tokens, error) { return tc.answer(c.t) }}
			s, err := NewSessions(store, SessionOptions{Verifier: verifier, Refresher: ref, Now: c.now})
			if err != nil {
				t.Fatal(err)
			}
			created := &Tokens{AccessToken: "at-1", Expiry: start.Add(5 * time.Minute), RefreshExpiry: start.Add(30 * time.Minute)}
			if tc.created != nil {
				created = tc.created
			}
			created.RefreshToken = tc.refreshTok
			sess, err := s.Create(context.Background(), ada, created)
			if err != nil {
				t.Fatal(err)
			}
			c.t = c.t.Add(tc.advance)
			got, err := s.Get(context.Background(), sess.ID)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !IsInvalid(err) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				if !slices.Equal(got.Principal.Roles, tc.wantRoles) {
					t.Errorf("roles %v, want %v", got.Principal.Roles, tc.wantRoles)
				}
				if got.Principal.Username != "ada" || got.Principal.Email != "ada@example.com" {
					t.Errorf("profile changed: %+v", got.Principal)
				}
				if !tc.wantExpires.IsZero() && (!got.ExpiresAt.Equal(tc.wantExpires) || !got.Principal.ExpiresAt.Equal(tc.wantExpires)) {
					t.Errorf("expires %s, want %s", got.ExpiresAt, tc.wantExpires)
				}
			}
			if n := ref.calls.Load(); n != tc.wantCalls {
				t.Errorf("%d refreshes, want %d", n, tc.wantCalls)
			}
			if deleted := store.len() == 0; deleted != tc.wantDeleted {
				t.Errorf("deleted = %v, want %v", deleted, tc.wantDeleted)
			}
		})
	}
}

func TestSessionRefreshOncePerSession(t *testing.T) {
	store := newMemStore()
	ref := &fakeRefresher{delay: 50 * time.Millisecond, tokens: func() (*Tokens, error) {
		return &Tokens{AccessToken: "at-2", RefreshToken: "rt-2", Expiry: time.Now().Add(5 * time.Minute)}, nil
	}}
	p := Principal{Subject: "s-1", Roles: []string{"user"}}
	s, err := NewSessions(store, SessionOptions{Verifier: fakeVerifier{"at-2": p}, Refresher: ref})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Create(context.Background(), p, &Tokens{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := s.Get(context.Background(), sess.ID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := ref.calls.Load(); n != 1 {
		t.Fatalf("%d refreshes for 10 concurrent requests, want 1", n)
	}
}

func TestSessionStoredUnderHashedKey(t *testing.T) {
	store := newMemStore()
	s, err := NewSessions(store, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Create(context.Background(), Principal{Subject: "s"}, &Tokens{AccessToken: "secret-access", RefreshToken: "secret-refresh", Expiry: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for k := range store.m {
		if strings.Contains(k, sess.ID) {
			t.Fatalf("store key %q contains the cookie value", k)
		}
	}
	if s := sess.String() + " " + sess.LogValue().String(); strings.Contains(s, "secret") || strings.Contains(s, sess.ID) || strings.Contains(s, sess.CSRFToken) {
		t.Fatalf("session printed as %q", s)
	}
	if _, err := s.Get(context.Background(), "guessed"); !IsInvalid(err) {
		t.Fatalf("unknown id: %v", err)
	}
	// Without a refresher (a route Lambda behind the authorizer), an
	// expired access token does not end the session.
	if _, err := s.Get(context.Background(), sess.ID); err != nil {
		t.Fatal(err)
	}
}
