package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// LicenseCML is the part of the CML client the licence jobs use.
type LicenseCML interface {
	RequestRegistration(ctx context.Context, token string, reregister bool) error
	Licensing(ctx context.Context) (cml.LicensingStatus, error)
	Deregister(ctx context.Context) (cml.DeregistrationResult, error)
}

// TokenSource reads a worker's licence token from the secret store.
type TokenSource interface {
	LicenseToken(ctx context.Context, workerID string) (string, error)
}

// TokenFunc adapts a function (e.g. a secrets.Store lookup of
// secrets.LicenseTokenName(id)) to a TokenSource.
type TokenFunc func(ctx context.Context, workerID string) (string, error)

// LicenseToken implements TokenSource.
func (f TokenFunc) LicenseToken(ctx context.Context, workerID string) (string, error) {
	return f(ctx, workerID)
}

// LicenseJobs registers and deregisters CML licences as background jobs
// (the fleet service's LicenseJobs). Register records "started", asks CML
// and returns; the job then polls CML every license.pollSeconds until
// completed, failed or license.timeoutSeconds (defaults 5 s / 90 s) and
// records "completed" or "failed". With Async the polling runs in a
// goroutine (local server); without it (Lambda), the tick polls every
// minute through Poll — the same function.
type LicenseJobs struct {
	workers  Workers
	settings func(ctx context.Context) (settings.Values, error)
	cml      func(endpoint string) LicenseCML
	tokens   TokenSource
	async    bool
	log      *slog.Logger
	wg       sync.WaitGroup
}

// NewLicenseJobs returns the licence jobs. cmlFor nil uses cml.New.
func NewLicenseJobs(workers Workers, s func(ctx context.Context) (settings.Values, error), tokens TokenSource,
	cmlFor func(endpoint string) LicenseCML, async bool, log *slog.Logger) *LicenseJobs {
	if cmlFor == nil {
		cmlFor = func(endpoint string) LicenseCML { return cml.New(endpoint, cml.WithTimeout(30*time.Second)) }
	}
	if log == nil {
		log = slog.Default()
	}
	return &LicenseJobs{workers: workers, settings: s, cml: cmlFor, tokens: tokens, async: async,
		log: log.With("component", "license-jobs")}
}

func licenseCtx(ctx context.Context) context.Context {
	m := event.MetaFrom(ctx, time.Now().UTC())
	if m.Actor == event.SystemActor("unknown") {
		m.Actor = ActorLicense
	}
	return event.WithMeta(ctx, m)
}

// Register starts a registration. The command's errors (no token, not
// running, a job in progress, already registered without reregister) are
// returned as is for the API to map; CML refusing the request is recorded
// as a failure and returned.
func (j *LicenseJobs) Register(ctx context.Context, workerID string, reregister bool) error {
	if j.tokens == nil {
		return errors.New("licence registration: no secret store configured")
	}
	ctx = licenseCtx(ctx)
	token, err := j.tokens.LicenseToken(ctx, workerID)
	if err != nil {
		return fmt.Errorf("licence token of %s: %w", workerID, err)
	}
	if _, err := j.workers.Update(ctx, workerID, func(w *worker.Worker) error { return w.StartLicenseRegistration(reregister) }); err != nil {
		return err
	}
	return j.request(ctx, workerID, token, reregister)
}

// StartRegistration continues a registration whose start the caller
// already recorded (fleet.LicenseJobs): it asks CML and polls.
func (j *LicenseJobs) StartRegistration(ctx context.Context, workerID string, reregister bool) error {
	if j.tokens == nil {
		j.fail(licenseCtx(ctx), workerID, true, "no secret store configured", "")
		return errors.New("licence registration: no secret store configured")
	}
	ctx = licenseCtx(ctx)
	token, err := j.tokens.LicenseToken(ctx, workerID)
	if err != nil {
		j.fail(ctx, workerID, true, "licence token unavailable: "+err.Error(), "")
		return fmt.Errorf("licence token of %s: %w", workerID, err)
	}
	return j.request(ctx, workerID, token, reregister)
}

// StartDeregistration continues a deregistration whose start the caller
// already recorded (fleet.LicenseJobs).
func (j *LicenseJobs) StartDeregistration(ctx context.Context, workerID string) error {
	return j.deregister(licenseCtx(ctx), workerID)
}

func (j *LicenseJobs) request(ctx context.Context, workerID, token string, reregister bool) error {
	w, err := j.workers.Load(ctx, workerID)
	if err != nil {
		return err
	}
	if err := j.cml(w.Endpoint()).RequestRegistration(ctx, token, reregister); err != nil {
		j.fail(ctx, workerID, true, err.Error(), code(err))
		return fmt.Errorf("licence registration of %s: %w", workerID, err)
	}
	j.log.InfoContext(ctx, "licence registration started", "worker", workerID, "reregister", reregister)
	if j.async {
		j.background(ctx, workerID)
	}
	return nil
}

func (j *LicenseJobs) background(ctx context.Context, workerID string) {
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		ctx := context.WithoutCancel(ctx)
		poll := 5 * time.Second
		if v, err := j.settings(ctx); err == nil {
			poll = settings.Every(v.License.PollSeconds)
		}
		for {
			time.Sleep(poll)
			done, err := j.Poll(ctx, workerID)
			if err != nil {
				j.log.Warn("licence poll", "worker", workerID, "err", err)
			}
			if done {
				return
			}
		}
	}()
}

// Wait blocks until background jobs end.
func (j *LicenseJobs) Wait() { j.wg.Wait() }

// Poll advances a registration in progress: done when it completed,
// failed or timed out (or none is in progress).
func (j *LicenseJobs) Poll(ctx context.Context, workerID string) (done bool, err error) {
	ctx = licenseCtx(ctx)
	w, err := j.workers.Load(ctx, workerID)
	if err != nil {
		return true, err
	}
	if w.LicenseOperation() != worker.LicenseRegistering {
		return true, nil
	}
	timeout := 90 * time.Second
	if v, err := j.settings(ctx); err == nil {
		timeout = settings.Every(v.License.TimeoutSeconds)
	}
	st, lerr := j.cml(w.Endpoint()).Licensing(ctx)
	switch {
	case lerr == nil && st.Registration.Status == cml.RegistrationCompleted:
		_, err := j.workers.Update(ctx, workerID, func(w *worker.Worker) error {
			return w.CompleteLicenseRegistration(worker.LicenseRegistered, deref(st.Registration.SmartAccount), deref(st.Registration.VirtualAccount))
		})
		return true, ignoreTransition(err)
	case lerr == nil && (st.Registration.Status == "FAILED" || st.Registration.Status == "EXPIRED" || st.Registration.Status == "RETRY_FAILED"):
		msg := "registration " + strings.ToLower(st.Registration.Status)
		if f := st.Registration.RegisterTime.Failure; f != nil {
			msg += ": " + *f
		}
		j.fail(ctx, workerID, true, msg, st.Registration.Status)
		return true, nil
	case time.Since(w.LicenseOperationStartedAt()) >= timeout:
		msg := fmt.Sprintf("registration timed out after %s", timeout)
		if lerr != nil {
			msg += ": " + lerr.Error()
		}
		j.fail(ctx, workerID, true, msg, "TIMEOUT")
		return true, nil
	}
	return false, lerr
}

// Deregister releases the licence. CML answers at once (204, or 202 when
// Cisco could not be told), so the job completes in the call; an HTTP
// timeout counts as done, as the system we replace did.
func (j *LicenseJobs) Deregister(ctx context.Context, workerID string) error {
	ctx = licenseCtx(ctx)
	if _, err := j.workers.Update(ctx, workerID, func(w *worker.Worker) error { return w.StartLicenseDeregistration() }); err != nil {
		return err
	}
	return j.deregister(ctx, workerID)
}

func (j *LicenseJobs) deregister(ctx context.Context, workerID string) error {
	w, err := j.workers.Load(ctx, workerID)
	if err != nil {
		return err
	}
	res, derr := j.cml(w.Endpoint()).Deregister(ctx)
	if derr != nil && !errors.Is(derr, context.DeadlineExceeded) {
		j.fail(ctx, workerID, false, derr.Error(), code(derr))
		return fmt.Errorf("licence deregistration of %s: %w", workerID, derr)
	}
	msg := res.String()
	if derr != nil {
		msg = "deregistration timed out; assumed done"
	}
	_, err = j.workers.Update(ctx, workerID, func(w *worker.Worker) error { return w.CompleteLicenseDeregistration(msg) })
	return ignoreTransition(err)
}

func (j *LicenseJobs) fail(ctx context.Context, workerID string, registration bool, msg, code string) {
	_, err := j.workers.Update(ctx, workerID, func(w *worker.Worker) error {
		if registration {
			return w.FailLicenseRegistration(msg, code)
		}
		return w.FailLicenseDeregistration(msg)
	})
	if err = ignoreTransition(err); err != nil {
		j.log.WarnContext(ctx, "record licence failure", "worker", workerID, "err", err)
	}
	j.log.WarnContext(ctx, "licence job failed", "worker", workerID, "registration", registration, "error", msg)
}

func ignoreTransition(err error) error {
	if errors.Is(err, worker.ErrTransition) {
		return nil // another poller finished the job first
	}
	return err
}

func code(err error) string {
	var ae *cml.APIError
	if errors.As(err, &ae) {
		return fmt.Sprint(ae.Status)
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
