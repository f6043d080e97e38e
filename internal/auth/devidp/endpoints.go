package devidp

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// authRequest is an authorization request's parameters; they travel
// through the login form as hidden fields and are checked again on POST.
type authRequest struct {
	ClientID, RedirectURI, ResponseType, Scope, State, Nonce, Challenge, ChallengeMethod string
}

func authRequestOf(v url.Values) authRequest {
	return authRequest{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), ResponseType: v.Get("response_type"),
		Scope: v.Get("scope"), State: v.Get("state"), Nonce: v.Get("nonce"),
		Challenge: v.Get("code_challenge"), ChallengeMethod: v.Get("code_challenge_method")}
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — CML Cloud Manager (local)</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f6f8;display:flex;justify-content:center;padding-top:8vh;margin:0}
main{background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);padding:2rem;width:22rem}
h1{font-size:1.2rem;margin:0 0 .25rem}p{color:#555;font-size:.9rem}label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #bbb;border-radius:4px}
button{margin-top:1.25rem;width:100%;padding:.6rem;font-size:1rem;background:#0d6efd;color:#fff;border:0;border-radius:4px;cursor:pointer}
.err{background:#f8d7da;color:#842029;padding:.5rem .75rem;border-radius:4px;font-size:.9rem}
.note{font-size:.8rem;color:#666;margin-top:1rem}code{background:#eee;padding:0 .2rem}
</style></head><body><main>
<h1>CML Cloud Manager</h1><p>Local development sign-in</p>
{{if .Error}}<div class="err" role="alert">{{.Error}}</div>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="client_id" value="{{.Req.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Req.RedirectURI}}">
<input type="hidden" name="response_type" value="{{.Req.ResponseType}}">
<input type="hidden" name="scope" value="{{.Req.Scope}}">
<input type="hidden" name="state" value="{{.Req.State}}">
<input type="hidden" name="nonce" value="{{.Req.Nonce}}">
<input type="hidden" name="code_challenge" value="{{.Req.Challenge}}">
<input type="hidden" name="code_challenge_method" value="{{.Req.ChallengeMethod}}">
<label for="username">Username</label><input id="username" name="username" value="{{.Username}}" autocomplete="username" autofocus required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="note">Demo users: {{range $i, $u := .Users}}{{if $i}}, {{end}}<code>{{$u}}</code>{{end}}. This provider exists only in local mode.</p>
</main></body></html>`))

// authorize serves the authorization endpoint: GET shows the login form,
// POST checks the credentials and redirects back with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	params := r.Form
	if r.Method == http.MethodPost {
		params = r.PostForm
	}
	req := authRequestOf(params)
	// Client and redirect URI first: until both are known good, errors
	// are shown here, never sent to an unverified redirect URI.
	if req.ClientID != p.cfg.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if !p.redirectAllowed(req.RedirectURI) {
		http.Error(w, "redirect_uri not allowed for this client", http.StatusBadRequest)
		return
	}
	back := func(q url.Values) {
		u, _ := url.Parse(req.RedirectURI)
		vals := u.Query()
		for k, vs := range q {
			vals[k] = vs
		}
		if req.State != "" {
			vals.Set("state", req.State)
		}
		vals.Set("iss", p.issuer)
		u.RawQuery = vals.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	switch {
	case req.ResponseType != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case req.Challenge == "" || req.ChallengeMethod != "S256":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required"}})
		return
	case !slices.Contains(strings.Fields(req.Scope), "openid"):
		back(url.Values{"error": {"invalid_scope"}, "error_description": {"the openid scope is required"}})
		return
	}
	if r.Method == http.MethodGet {
		p.renderLogin(w, req, "", "", http.StatusOK)
		return
	}
	username := r.PostForm.Get("username")
	u, ok := p.checkPassword(username, r.PostForm.Get("password"))
	if !ok {
		p.log.Info("devidp: wrong username or password", "username", username)
		p.renderLogin(w, req, username, "Wrong username or password.", http.StatusUnauthorized)
		return
	}
	code := p.newCode(codeGrant{clientID: req.ClientID, redirectURI: req.RedirectURI, challenge: req.Challenge,
		nonce: req.Nonce, scope: req.Scope, username: u.Username, expires: p.now().Add(codeTTL)})
	p.log.Info("devidp: signed in", "username", u.Username)
	back(url.Values{"code": {code}})
}

func (p *Provider) renderLogin(w http.ResponseWriter, req authRequest, username, msg string, status int) {
	names := make([]string, 0, len(p.cfg.Users))
	for _, u := range p.cfg.Users {
		names = append(names, u.Username)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, map[string]any{"Action": p.endpoint("authorize"), "Req": req, "Username": username,
		"Error": msg, "Users": names})
}

// tokenError answers an RFC 6749 §5.2 error.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="devidp"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// token serves the token endpoint: authorization_code (with PKCE),
// refresh_token and password.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	f := r.PostForm
	if !p.checkClient(r, f.Get("grant_type") != "password") {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := p.takeCode(f.Get("code"))
		switch {
		case !ok:
			tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		case g.clientID != p.cfg.ClientID || g.redirectURI != f.Get("redirect_uri"):
			tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		case pkceS256(f.Get("code_verifier")) != g.challenge:
			tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		default:
			p.issue(w, p.users[g.username], g.scope, g.nonce)
		}
	case "refresh_token":
		claims, err := p.key.parse(f.Get("refresh_token"), p.now)
		if err != nil || claims["typ"] != "Refresh" || claims["iss"] != p.issuer || claims["azp"] != p.cfg.ClientID {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "invalid refresh token")
			return
		}
		jti, _ := claims["jti"].(string)
		sub, _ := claims["sub"].(string)
		u, known := p.users[sub]
		if !known || p.isRevoked(jti) {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was revoked")
			return
		}
		scope, _ := claims["scope"].(string)
		p.issue(w, u, scope, "")
	case "password":
		u, ok := p.checkPassword(f.Get("username"), f.Get("password"))
		if !ok {
			tokenError(w, http.StatusBadRequest, "invalid_grant", "wrong username or password")
			return
		}
		scope := f.Get("scope")
		if scope == "" {
			scope = "openid profile email"
		}
		p.issue(w, u, scope, "")
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "use authorization_code, refresh_token or password")
	}
}

// issue answers a successful token request for u.
func (p *Provider) issue(w http.ResponseWriter, u User, scope, nonce string) {
	now := p.now()
	roles := append([]string{}, u.Roles...)
	at := p.claimsFor(u, now, p.ttlAT)
	// The claims Keycloak puts in its access tokens, so the verifier's
	// Keycloak path is the one exercised locally.
	at["aud"], at["azp"], at["typ"], at["scope"] = p.cfg.ClientID, p.cfg.ClientID, "Bearer", scope
	at["preferred_username"], at["email"], at["name"] = u.Username, u.Email, u.Name
	at["realm_access"] = map[string]any{"roles": roles}
	access, err := p.key.sign(at)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	rt := p.claimsFor(u, now, p.ttlRT)
	rt["aud"], rt["azp"], rt["typ"], rt["scope"] = p.issuer, p.cfg.ClientID, "Refresh", scope
	refresh, err := p.key.sign(rt)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	out := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(p.ttlAT.Seconds()),
		"refresh_token": refresh, "refresh_expires_in": int(p.ttlRT.Seconds()), "scope": scope}
	if slices.Contains(strings.Fields(scope), "openid") {
		id := p.claimsFor(u, now, p.ttlAT)
		id["aud"], id["azp"], id["typ"], id["auth_time"] = p.cfg.ClientID, p.cfg.ClientID, "ID", now.Unix()
		id["preferred_username"], id["email"], id["name"] = u.Username, u.Email, u.Name
		if nonce != "" {
			id["nonce"] = nonce
		}
		if out["id_token"], err = p.key.sign(id); err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// revoke serves RFC 7009 revocation of refresh tokens (others are
// accepted and ignored, as the RFC allows).
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if !p.checkClient(r, true) {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	if claims, err := p.key.parse(r.PostForm.Get("token"), p.now); err == nil && claims["typ"] == "Refresh" {
		jti, _ := claims["jti"].(string)
		exp, _ := claims.GetExpirationTime()
		if jti != "" && exp != nil {
			p.mu.Lock()
			p.revoked[jti] = exp.Time
			p.mu.Unlock()
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (p *Provider) isRevoked(jti string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for id, exp := range p.revoked {
		if now.After(exp) {
			delete(p.revoked, id)
		}
	}
	_, ok := p.revoked[jti]
	return ok
}

// logout serves RP-initiated logout. The provider keeps no single sign-on
// session, so there is nothing to end: it redirects to an allowed
// post_logout_redirect_uri, or says the person is signed out.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if to := q.Get("post_logout_redirect_uri"); to != "" && (p.redirectAllowed(to) || p.sameOrigin(to)) {
		http.Redirect(w, r, to, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Signed out.\n"))
}
