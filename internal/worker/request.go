package worker

import "time"

// LastPowerRequest is the last start, stop or terminate that EC2 was asked
// to carry out ("" when none). A deferred request (a stop while pending, a
// start while stopping) does not change it, which is how a reconciler
// tells a deferred request it must now carry out from a change made
// outside the product: a worker that should be stopped but runs, whose
// last request was a stop, was started by someone else.
func (w *Worker) LastPowerRequest() (op string, at time.Time) {
	return w.s.Request.Op, w.s.Request.At
}

// LicenseOperationStartedAt is when the licence job in progress started
// (zero when none), so a poller can time it out.
func (w *Worker) LicenseOperationStartedAt() time.Time { return w.s.CML.LicenseOpStartedAt }
