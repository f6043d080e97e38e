package cml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Registration polling defaults, as the old fleet manager used (every 5 s,
// 18 times).
const (
	DefaultRegistrationPoll    = 5 * time.Second
	DefaultRegistrationTimeout = 90 * time.Second
)

var (
	// ErrRegistrationFailed: the controller reported the registration
	// FAILED, EXPIRED or RETRY_FAILED.
	ErrRegistrationFailed = errors.New("cml: licence registration failed")
	// ErrRegistrationTimeout: the registration did not complete in time.
	ErrRegistrationTimeout = errors.New("cml: licence registration timed out")
)

// Registration statuses the fleet manager acts on.
const (
	RegistrationCompleted     = "COMPLETED"
	AuthorizationInCompliance = "IN_COMPLIANCE"
)

var registrationFailures = map[string]bool{"FAILED": true, "EXPIRED": true, "RETRY_FAILED": true}

// LicensingStatus is GET /licensing. Raw keeps the whole reply for display.
type LicensingStatus struct {
	UDI struct {
		Hostname    string `json:"hostname"`
		ProductUUID string `json:"product_uuid"`
	} `json:"udi"`
	Registration struct {
		Status         string      `json:"status"`
		SmartAccount   *string     `json:"smart_account"`
		VirtualAccount *string     `json:"virtual_account"`
		Expires        *string     `json:"expires"`
		RegisterTime   LicenseTime `json:"register_time"`
		RenewTime      LicenseTime `json:"renew_time"`
	} `json:"registration"`
	Authorization struct {
		Status  string  `json:"status"`
		Expires *string `json:"expires"`
	} `json:"authorization"`
	ReservationMode bool             `json:"reservation_mode"`
	Features        []LicenseFeature `json:"features"`
	ProductLicense  struct {
		Active       string `json:"active"`
		IsEnterprise bool   `json:"is_enterprise"`
	} `json:"product_license"`
	Raw json.RawMessage `json:"-"`
}

// LicenseTime is CML's six-key timing record of a licensing action.
type LicenseTime struct {
	Succeeded *string `json:"succeeded"`
	Attempted *string `json:"attempted"`
	Scheduled *string `json:"scheduled"`
	Status    *string `json:"status"`
	Failure   *string `json:"failure"`
	Success   *string `json:"success"`
}

// LicenseFeature is one licensed feature (base licence, expansion nodes).
type LicenseFeature struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	InUse  int    `json:"in_use"`
	Status string `json:"status"`
	Min    int    `json:"min"`
	Max    int    `json:"max"`
}

// Registered reports a completed registration.
func (l LicensingStatus) Registered() bool { return l.Registration.Status == RegistrationCompleted }

// Licensing reads the licensing status (admin only).
func (c *Client) Licensing(ctx context.Context) (LicensingStatus, error) {
	var l LicensingStatus
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "licensing", idempotent: true})
	if err != nil {
		return l, err
	}
	if err := decode(http.MethodGet, "licensing", resp.body, &l); err != nil {
		return l, err
	}
	l.Raw = json.RawMessage(resp.body)
	return l, nil
}

// RequestRegistration asks the controller to register with a Smart
// Licensing token. CML answers 204 at once and registers asynchronously;
// use Register to wait for the outcome.
func (c *Client) RequestRegistration(ctx context.Context, token string, reregister bool) error {
	body, _ := json.Marshal(map[string]any{"token": token, "reregister": reregister})
	_, err := c.do(ctx, request{
		method: http.MethodPost, path: "licensing/registration", body: body, contentType: "application/json",
		okStatus: []int{http.StatusNoContent, http.StatusOK},
	})
	return err
}

// Register requests a registration, then polls the licensing status every
// poll until it is COMPLETED (returned), FAILED/EXPIRED/RETRY_FAILED
// (ErrRegistrationFailed) or timeout passes (ErrRegistrationTimeout).
// Zero poll/timeout mean 5 s / 90 s. Errors while polling are retried
// until the timeout; the last status is returned with any error.
func (c *Client) Register(ctx context.Context, token string, reregister bool, poll, timeout time.Duration) (LicensingStatus, error) {
	if poll <= 0 {
		poll = DefaultRegistrationPoll
	}
	if timeout <= 0 {
		timeout = DefaultRegistrationTimeout
	}
	if err := c.RequestRegistration(ctx, token, reregister); err != nil {
		return LicensingStatus{}, err
	}
	deadline := time.Now().Add(timeout)
	var last LicensingStatus
	var lastErr error
	for {
		st, err := c.Licensing(ctx)
		switch {
		case err != nil:
			lastErr = err
			if ctx.Err() != nil {
				return last, err
			}
		case st.Registration.Status == RegistrationCompleted:
			return st, nil
		case registrationFailures[st.Registration.Status]:
			reason := ""
			if f := st.Registration.RegisterTime.Failure; f != nil {
				reason = ": " + *f
			}
			return st, fmt.Errorf("%w: status %s%s", ErrRegistrationFailed, st.Registration.Status, reason)
		default:
			last, lastErr = st, nil
		}
		wait := min(poll, time.Until(deadline))
		if wait <= 0 {
			if lastErr != nil {
				return last, fmt.Errorf("%w after %s (status %q): %w", ErrRegistrationTimeout, timeout, last.Registration.Status, lastErr)
			}
			return last, fmt.Errorf("%w after %s (status %q)", ErrRegistrationTimeout, timeout, last.Registration.Status)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("cml: waiting for licence registration: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// DeregistrationResult says how a deregistration completed.
type DeregistrationResult int

const (
	// Deregistered: done on the controller and with Cisco (204).
	Deregistered DeregistrationResult = iota + 1
	// DeregisteredLocally: done on the controller, but Cisco's licensing
	// service could not be told (202, communication timeout).
	DeregisteredLocally
)

func (r DeregistrationResult) String() string {
	switch r {
	case Deregistered:
		return "deregistered"
	case DeregisteredLocally:
		return "deregistered locally"
	}
	return "unknown"
}

// Deregister releases the controller's licence. 204 and 202 are both
// success. CML answers 400 when nodes are running or the product is not
// registered (ErrBadRequest with CML's text). Not retried: a repeated
// deregistration would report "already de-registered".
func (c *Client) Deregister(ctx context.Context) (DeregistrationResult, error) {
	resp, err := c.do(ctx, request{
		method: http.MethodDelete, path: "licensing/deregistration",
		okStatus: []int{http.StatusNoContent, http.StatusAccepted, http.StatusOK},
	})
	if err != nil {
		return 0, err
	}
	if resp.status == http.StatusAccepted {
		return DeregisteredLocally, nil
	}
	return Deregistered, nil
}
