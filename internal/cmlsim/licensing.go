package cmlsim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"time"
)

// Registration and authorization states. COMPLETED and IN_COMPLIANCE are
// what virl2-client and Cisco's provisioning wait for; the others are the
// simulator's choice where the guide marks CML's values unknown.
const (
	regUnregistered = "UNREGISTERED"
	regInProgress   = "IN_PROGRESS"
	regCompleted    = "COMPLETED"
	regFailed       = "FAILED"

	authEval         = "EVAL"
	authInCompliance = "IN_COMPLIANCE"

	defaultSSMS = "https://smartreceiver.cisco.com/licservice/license"

	baseFeatureID      = "regid.2019-10.com.cisco.CML_ENT_BASE,1.0_1a6d3b2d-5ec0-4a1e-9a1c-5f5f9f0c2e11"
	expansionFeatureID = "regid.2019-10.com.cisco.CML_NODE_COUNT,1.0_2607650b-6ca8-46d5-81e5-e6688b7383c4"
)

// productLicenses maps CML's licence flavours to the nodes they include.
var productLicenses = map[string]int{
	"CML_Enterprise": 20,
	"CML_Education":  20,
	"CML_Personal":   20,
	"CML_Personal40": 40,
}

func isEnterprise(p string) bool { return p == "CML_Enterprise" || p == "CML_Education" }

type licensing struct {
	ProductLicense string     `json:"product_license"`
	Registration   string     `json:"registration"`
	Authorization  string     `json:"authorization"`
	SmartAccount   string     `json:"smart_account,omitempty"`
	VirtualAccount string     `json:"virtual_account,omitempty"`
	Attempted      *time.Time `json:"attempted,omitempty"`
	Succeeded      *time.Time `json:"succeeded,omitempty"`
	Failure        string     `json:"failure,omitempty"`
	DueAt          time.Time  `json:"due_at"`     // when an IN_PROGRESS registration ends
	WillFail       bool       `json:"will_fail"`  // how it ends
	Expansion      int        `json:"expansion"`  // CML_NODE_COUNT feature count
	SSMS           *string    `json:"ssms"`       // nil = default
	ProxyServer    *string    `json:"proxy_host"` // licensing transport proxy
	ProxyPort      *int       `json:"proxy_port"`
}

func newLicensing() *licensing {
	return &licensing{ProductLicense: "CML_Enterprise", Registration: regUnregistered, Authorization: authEval}
}

// nodeLimit is how many licensed nodes may run (-1 = unlimited). Callers
// hold s.mu.
func (s *Sim) nodeLimit() int {
	lic := s.st.Licensing
	if lic.Registration != regCompleted {
		if s.opts.UnlicensedNodeLimit < 0 {
			return -1
		}
		return s.opts.UnlicensedNodeLimit
	}
	base := productLicenses[lic.ProductLicense]
	if isEnterprise(lic.ProductLicense) {
		base += lic.Expansion
	}
	return base
}

// advanceLicensing finishes a due registration. Callers hold s.mu.
func (s *Sim) advanceLicensing(now time.Time) {
	lic := s.st.Licensing
	if lic.Registration != regInProgress || now.Before(lic.DueAt) {
		return
	}
	at := lic.DueAt
	if lic.WillFail {
		lic.Registration = regFailed
		lic.Failure = "Communication with Cisco Smart Software Manager failed: invalid or expired registration token"
	} else {
		lic.Registration = regCompleted
		lic.Authorization = authInCompliance
		lic.SmartAccount, lic.VirtualAccount = "Simulated Smart Account", "Default"
		lic.Succeeded = &at
		lic.Failure = ""
	}
	s.telemetry(at, "license_info", map[string]any{
		"registration_status": lic.Registration, "authorization_status": lic.Authorization,
		"product_license": lic.ProductLicense,
	})
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return isoTime(*t)
}

// licensingJSON renders LicensingStatus. Callers hold s.mu.
func (s *Sim) licensingJSON(now time.Time) map[string]any {
	lic := s.st.Licensing
	var regExpires, authExpires any
	var regStatus, regSuccess any
	var failure any
	switch lic.Registration {
	case regCompleted:
		regExpires = isoTime(lic.Succeeded.AddDate(1, 0, 0))
		authExpires = isoTime(lic.Succeeded.AddDate(0, 0, 90))
		regStatus, regSuccess = "SUCCEEDED", "SUCCESS"
	case regFailed:
		regStatus, failure = "FAILED", lic.Failure
	case regInProgress:
		regStatus = "IN_PROGRESS"
	}
	nilIfEmpty := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	var renewScheduled any
	if lic.Succeeded != nil && lic.Registration == regCompleted {
		renewScheduled = isoTime(lic.Succeeded.AddDate(0, 6, 0))
	}
	registered := lic.Registration == regCompleted
	featStatus := "INIT"
	if registered {
		featStatus = "IN_COMPLIANCE"
	}
	features := []map[string]any{{
		"id": baseFeatureID, "name": "CML - Enterprise License",
		"description": "Cisco Modeling Labs - Enterprise License with 20 nodes capacity included",
		"version":     "1.0", "in_use": boolInt(registered && isEnterprise(lic.ProductLicense)), "status": featStatus,
		"min": 0, "max": 1, "minEndDate": nil, "maxEndDate": nil,
	}, {
		"id": expansionFeatureID, "name": "CML – Expansion Nodes",
		"description": "Cisco Modeling Labs - Expansion Nodes",
		"version":     "1.0", "in_use": lic.Expansion, "status": featStatus,
		"min": 0, "max": 300, "minEndDate": nil, "maxEndDate": nil,
	}}
	var ssms any = defaultSSMS
	if lic.SSMS != nil {
		ssms = *lic.SSMS
	}
	return map[string]any{
		"udi": map[string]any{"hostname": s.opts.Hostname, "product_uuid": s.computeID},
		"registration": map[string]any{
			"status":          lic.Registration,
			"smart_account":   nilIfEmpty(lic.SmartAccount),
			"virtual_account": nilIfEmpty(lic.VirtualAccount),
			"expires":         regExpires,
			"register_time": map[string]any{
				"succeeded": timeOrNil(lic.Succeeded), "attempted": timeOrNil(lic.Attempted), "scheduled": nil,
				"status": regStatus, "failure": failure, "success": regSuccess,
			},
			"renew_time": map[string]any{
				"succeeded": nil, "attempted": nil, "scheduled": renewScheduled,
				"status": nil, "failure": nil, "success": nil,
			},
		},
		"authorization": map[string]any{
			"status":  lic.Authorization,
			"expires": authExpires,
			"renew_time": map[string]any{
				"succeeded": timeOrNil(lic.Succeeded), "attempted": timeOrNil(lic.Succeeded), "scheduled": nil,
				"status": regStatus, "failure": nil, "success": regSuccess,
			},
		},
		"reservation_mode": false,
		"features":         features,
		"product_license":  map[string]any{"active": lic.ProductLicense, "is_enterprise": isEnterprise(lic.ProductLicense)},
		"transport": map[string]any{
			"ssms":         ssms,
			"proxy":        map[string]any{"server": lic.ProxyServer, "port": lic.ProxyPort},
			"default_ssms": defaultSSMS,
		},
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// GET /licensing
func (s *Sim) handleLicensing(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	body := s.licensingJSON(now)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// GET /licensing/features (deprecated in 2.9 in favour of the status call).
func (s *Sim) handleLicensingFeatures(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	body := s.licensingJSON(now)["features"]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// GET /licensing/tech_support → a JSON string.
func (s *Sim) handleLicensingTechSupport(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	lic := *s.st.Licensing
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, "Smart Licensing Tech Support info (simulated)\n"+
		"Registration: "+lic.Registration+"\nAuthorization: "+lic.Authorization+"\nProduct: "+lic.ProductLicense+"\n")
}

var regTokenRE = regexp.MustCompile(`^[a-zA-Z\d+/%=-]{1,256}$`)

// POST /licensing/registration {token, reregister} → 204; the outcome
// arrives later in GET /licensing (IN_PROGRESS → COMPLETED or FAILED).
func (s *Sim) handleRegister(w http.ResponseWriter, r *http.Request, u *user) {
	var in struct {
		Token      string `json:"token"`
		Reregister bool   `json:"reregister"`
	}
	if err := decodeJSONBody(r, &in); err != nil || !regTokenRE.MatchString(in.Token) {
		writeError(w, http.StatusBadRequest, "Invalid registration request: a token of 1-256 characters [A-Za-z0-9+/%=-] is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.advance(now)
	lic := s.st.Licensing
	switch {
	case lic.Registration == regInProgress:
		writeError(w, http.StatusConflict, "Registration cannot be requested at this time: a registration is in progress.")
		return
	case lic.Registration == regCompleted && !in.Reregister:
		writeError(w, http.StatusConflict, "Registration cannot be requested at this time: the product is already registered (use reregister).")
		return
	}
	delay := s.opts.RegistrationDelay
	if s.faults.RegistrationDelay > 0 {
		delay = s.faults.RegistrationDelay
	}
	lic.Registration = regInProgress
	lic.Attempted = &now
	lic.DueAt = now.Add(delay)
	lic.WillFail = s.faults.RegistrationFails
	lic.Failure = ""
	s.telemetry(now, "license_info", map[string]any{"registration_status": regInProgress, "user_id": u.ID})
	noContent(w)
}

// DELETE /licensing/deregistration → 204, or 202 when Cisco's service
// cannot be reached (done locally); 400 with CML's texts when nodes run or
// the product is not registered.
func (s *Sim) handleDeregister(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.advance(now)
	lic := s.st.Licensing
	switch {
	case lic.Registration == regInProgress:
		writeError(w, http.StatusConflict, "Deregistration cannot be requested at this time: a registration is in progress.")
		return
	case lic.Registration != regCompleted:
		writeError(w, http.StatusBadRequest, "Licensing issue: The product has already been de-registered.")
		return
	case s.licensedRunning() > 0:
		writeError(w, http.StatusBadRequest, "Licensing issue: Cannot de-register when nodes are running.")
		return
	}
	*lic = licensing{
		ProductLicense: lic.ProductLicense, Registration: regUnregistered, Authorization: authEval,
		SSMS: lic.SSMS, ProxyServer: lic.ProxyServer, ProxyPort: lic.ProxyPort,
	}
	s.telemetry(now, "license_info", map[string]any{"registration_status": regUnregistered, "user_id": u.ID})
	if s.faults.DeregistrationTimeout {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	noContent(w)
}

// PUT /licensing/product_license "CML_Enterprise" → 204.
func (s *Sim) handleProductLicense(w http.ResponseWriter, r *http.Request, u *user) {
	var p string
	if err := decodeJSONBody(r, &p); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid product license: a JSON string is required.")
		return
	}
	if _, ok := productLicenses[p]; !ok {
		writeError(w, http.StatusBadRequest, "Invalid product license: "+p)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	lic := s.st.Licensing
	if lic.Registration == regCompleted || lic.Registration == regInProgress {
		if lic.ProductLicense != p {
			writeError(w, http.StatusBadRequest, "Licensing issue: the product license cannot be changed while the product is registered.")
			return
		}
	}
	lic.ProductLicense = p
	noContent(w)
}

// PUT /licensing/transport {ssms, proxy: {server, port}} → 204.
func (s *Sim) handleTransport(w http.ResponseWriter, r *http.Request, u *user) {
	var in struct {
		SSMS  *string `json:"ssms"`
		Proxy *struct {
			Server *string `json:"server"`
			Port   *int    `json:"port"`
		} `json:"proxy"`
	}
	if err := decodeJSONBody(r, &in); err != nil || in.Proxy == nil {
		writeError(w, http.StatusBadRequest, "Invalid transport: {\"ssms\": url|null, \"proxy\": {\"server\", \"port\"}} is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lic := s.st.Licensing
	lic.SSMS, lic.ProxyServer, lic.ProxyPort = in.SSMS, in.Proxy.Server, in.Proxy.Port
	noContent(w)
}

// PATCH /licensing/features [{"id", "count"}] → 204. Only the expansion
// node count is adjustable (0..300); the base licence is 0 or 1.
func (s *Sim) handleUpdateFeatures(w http.ResponseWriter, r *http.Request, u *user) {
	var in []struct {
		ID    string `json:"id"`
		Count *int   `json:"count"`
	}
	b, err := readBody(r)
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	if err != nil || len(in) < 1 || len(in) > 2 {
		writeError(w, http.StatusBadRequest, "Invalid features: a list of 1-2 {\"id\", \"count\"} objects is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lic := s.st.Licensing
	for _, f := range in {
		if f.Count == nil || *f.Count < 0 {
			writeError(w, http.StatusBadRequest, "Invalid feature count for "+f.ID)
			return
		}
		switch f.ID {
		case expansionFeatureID:
			if *f.Count > 300 {
				writeError(w, http.StatusBadRequest, "Invalid feature count for "+f.ID+": at most 300")
				return
			}
		case baseFeatureID:
			if *f.Count > 1 {
				writeError(w, http.StatusBadRequest, "Invalid feature count for "+f.ID+": at most 1")
				return
			}
		default:
			writeError(w, http.StatusBadRequest, "Unknown licensing feature: "+f.ID)
			return
		}
	}
	for _, f := range in {
		if f.ID == expansionFeatureID {
			lic.Expansion = *f.Count
		}
	}
	noContent(w)
}

// PUT /licensing/registration/renew and /licensing/authorization/renew.
func (s *Sim) handleRenew(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.advance(now)
	if s.st.Licensing.Registration != regCompleted {
		writeError(w, http.StatusBadRequest, "Licensing issue: the product is not registered.")
		return
	}
	s.st.Licensing.Succeeded = &now
	noContent(w)
}
