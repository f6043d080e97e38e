package cmlsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// defaultTokenTTL is CML's default web session timeout (the OpenAPI
// example token is valid for 86400 s).
const defaultTokenTTL = 24 * time.Hour

type authedHandler func(w http.ResponseWriter, r *http.Request, u *user)

// authed wraps a handler with bearer-token authentication: 401 with CML's
// error body when the token is missing, unknown or expired.
func (s *Sim) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			writeError(w, http.StatusUnauthorized, "No authorization token provided.")
			return
		}
		s.mu.Lock()
		sess, found := s.tokens[tok]
		now := s.clock()
		if found && !now.Before(sess.Expires) {
			delete(s.tokens, tok)
			found = false
		}
		var u *user
		if found {
			u = s.st.userByID(sess.UserID)
		}
		s.mu.Unlock()
		if u == nil {
			writeError(w, http.StatusUnauthorized, "Authentication token expired or invalid.")
			return
		}
		h(w, r, u)
	}
}

// adminOnly refuses non-admin users with 403, as CML does for licensing and
// system administration calls.
func adminOnly(h authedHandler) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		if !u.Admin {
			writeError(w, http.StatusForbidden, "User does not have administrator rights.")
			return
		}
		h(w, r, u)
	}
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login checks credentials and issues a token, recording the login as user
// activity. Bad credentials are 403: virl2-client turns only 403 into
// "Unable to authenticate".
func (s *Sim) login(w http.ResponseWriter, r *http.Request) (*user, string, bool) {
	var c credentials
	if err := decodeJSONBody(r, &c); err != nil || c.Username == "" {
		writeError(w, http.StatusBadRequest, "Invalid authentication request: username and password are required.")
		return nil, "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.userByName(c.Username)
	if u == nil || subtle.ConstantTimeCompare([]byte(u.Password), []byte(c.Password)) != 1 {
		writeError(w, http.StatusForbidden, "Authentication failed!")
		return nil, "", false
	}
	now := s.clock()
	ttl := s.faults.TokenTTL
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	tok := s.signToken(u.ID, now, now.Add(ttl))
	s.tokens[tok] = session{UserID: u.ID, Expires: now.Add(ttl)}
	s.userActivity(now, u.ID, "login", map[string]any{"username": u.Username})
	return u, tok, true
}

// signToken makes a JWT shaped like CML's (HS256; iss com.cisco.virl; sub =
// user id). Clients treat it as opaque; the simulator looks it up in its
// session table rather than verifying the signature.
func (s *Sim) signToken(userID string, iat, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`))
	payload, _ := json.Marshal(map[string]any{
		"iss": "com.cisco.virl",
		"iat": iat.Unix(),
		"exp": exp.Unix(),
		"sub": userID,
		"jti": newUUID(), // two logins in the same second get distinct tokens
	})
	signing := header + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, s.jwtKey)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// POST /authenticate → the token as a bare JSON string.
func (s *Sim) handleAuthenticate(w http.ResponseWriter, r *http.Request) {
	if _, tok, ok := s.login(w, r); ok {
		writeJSON(w, http.StatusOK, tok)
	}
}

// POST /auth_extended → {username, id, token, admin, error}.
func (s *Sim) handleAuthExtended(w http.ResponseWriter, r *http.Request) {
	if u, tok, ok := s.login(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{
			"username": u.Username, "id": u.ID, "token": tok, "admin": u.Admin, "error": nil,
		})
	}
}

// GET /authok → 200 with a JSON string when the token is good.
func (s *Sim) handleAuthOK(w http.ResponseWriter, r *http.Request, u *user) {
	writeJSON(w, http.StatusOK, "OK")
}

// DELETE /logout[?clear_all_sessions=true] → JSON true; revokes the token
// (or all of the user's tokens).
func (s *Sim) handleLogout(w http.ResponseWriter, r *http.Request, u *user) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	all := queryBool(r, "clear_all_sessions", false)
	s.mu.Lock()
	if all {
		for t, sess := range s.tokens {
			if sess.UserID == u.ID {
				delete(s.tokens, t)
			}
		}
	} else {
		delete(s.tokens, tok)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, true)
}

// GET /users → every user (CML lists all users to admins; virl2-client
// uses it to map lab owners to user names).
func (s *Sim) handleUsers(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	out := make([]map[string]any, 0, len(s.st.Users))
	for _, x := range s.st.Users {
		if !u.Admin && x.ID != u.ID {
			continue
		}
		out = append(out, s.userJSON(x))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// GET /users/{user_id}
func (s *Sim) handleUser(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("user_id")
	s.mu.Lock()
	x := s.st.userByID(id)
	var body map[string]any
	if x != nil && (u.Admin || x.ID == u.ID) {
		body = s.userJSON(x)
	}
	s.mu.Unlock()
	if body == nil {
		writeError(w, http.StatusNotFound, "User not found: "+id)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// GET /users/{username}/id → the user's id as a JSON string.
func (s *Sim) handleUserID(w http.ResponseWriter, r *http.Request, u *user) {
	name := r.PathValue("username")
	s.mu.Lock()
	x := s.st.userByName(name)
	s.mu.Unlock()
	if x == nil {
		writeError(w, http.StatusNotFound, "User not found: "+name)
		return
	}
	writeJSON(w, http.StatusOK, x.ID)
}

// userJSON renders a UserResponse. Callers hold s.mu.
func (s *Sim) userJSON(x *user) map[string]any {
	labs := []string{}
	for _, l := range s.st.Labs {
		if l.Owner == x.ID {
			labs = append(labs, l.ID)
		}
	}
	return map[string]any{
		"id":            x.ID,
		"username":      x.Username,
		"fullname":      x.Fullname,
		"description":   "",
		"email":         "",
		"admin":         x.Admin,
		"groups":        []string{},
		"associations":  []any{},
		"resource_pool": nil,
		"opt_in":        false,
		"tour_version":  "",
		"created":       isoTime(x.Created),
		"modified":      isoTime(x.Created),
		"directory_dn":  "",
		"labs":          labs,
		"pubkey_info":   nil,
	}
}
