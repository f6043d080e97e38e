package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cmlcm/cmlcm/internal/provision"
)

// This file generates the provisioning state machine (Amazon States
// Language) from internal/provision's workflow spec — the same spec the
// local runner executes — with the runner's semantics:
//
//   - the steps run in order; an imported worker ($.imported) starts at
//     the spec's ImportStartsAt;
//   - before each call a Pass state sets $.task, and the task Lambda gets
//     the whole state document and returns it (lambdas/provision);
//   - a poll step is called again while $.done is false, after the wait
//     the task asked for ($.waitSeconds) or else its PollInterval;
//   - the step's Retry retries its errors in place (spec MaxAttempts counts
//     the first attempt; ASL's counts retries);
//   - any other error, or retries exhausted, is caught into $.error
//     ({Step, Error, Cause}) and runs the compensation, after which the
//     execution fails with that error.
//
// It is pure Go (no CDK), so it is tested by running the generated
// definition through a small interpreter (workflow_test.go).

// State names besides the steps'.
const (
	stateStart     = "start"
	stateSucceeded = "succeeded"
	stateFailed    = "failed"
	// maxLambdaTimeout is Lambda's ceiling.
	maxLambdaTimeout = 15 * time.Minute
)

func callState(step string) string        { return step + ": call" }
func checkState(step string) string       { return step + ": check" }
func waitState(step string) string        { return step + ": wait" }
func waitDefaultState(step string) string { return step + ": wait default" }
func failedState(step string) string      { return step + ": failed" }

// lambdaTransient: the Lambda service errors every call retries, the same
// defaults CDK's LambdaInvoke uses.
var lambdaTransient = map[string]any{
	"ErrorEquals": []string{"Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException",
		"Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"},
	"IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2,
}

// taskTimeout is what the provision Lambda's timeout must be: the longest
// one-shot step or compensation (poll calls are short).
func taskTimeout(w provision.Workflow) time.Duration {
	d := time.Minute
	for _, s := range append(slices.Clone(w.Steps), w.Compensation) {
		if !s.Poll && s.Timeout > d {
			d = s.Timeout
		}
	}
	return min(d, maxLambdaTimeout)
}

// machineTimeout is the state machine's TimeoutSeconds: the workflow's
// total timeout plus the compensation's, so that the compensation of a
// workflow that used up its total still runs before the hard stop. (The
// total itself is enforced by the tasks, which know when the workflow
// started, as the local runner enforces it.)
func machineTimeout(w provision.Workflow) time.Duration {
	return w.TotalTimeout + w.Compensation.Timeout
}

func validateWorkflow(w provision.Workflow) error {
	if len(w.Steps) == 0 || w.TotalTimeout <= 0 {
		return fmt.Errorf("workflow: no steps or no total timeout")
	}
	if w.Compensation.Name == "" || w.Compensation.Task == "" {
		return fmt.Errorf("workflow: no compensation")
	}
	if len(w.DonePath) < 2 || w.DonePath[:2] != "$." || len(w.WaitSecondsPath) < 2 || w.WaitSecondsPath[:2] != "$." {
		return fmt.Errorf("workflow: DonePath and WaitSecondsPath must be JSONPaths ($.x)")
	}
	names := map[string]bool{stateStart: true, stateSucceeded: true, stateFailed: true, w.Compensation.Name: true}
	for _, s := range w.Steps {
		if s.Name == "" || s.Task == "" || names[s.Name] {
			return fmt.Errorf("workflow: step %q: empty, repeated or reserved name, or no task", s.Name)
		}
		names[s.Name] = true
		if s.Catch != "" && s.Catch != w.Compensation.Name {
			return fmt.Errorf("workflow: step %s catches into %q, which is not the compensation", s.Name, s.Catch)
		}
		if s.Poll && s.PollInterval < time.Second {
			return fmt.Errorf("workflow: poll step %s needs a PollInterval of at least 1s", s.Name)
		}
	}
	if w.ImportStartsAt != "" && !names[w.ImportStartsAt] {
		return fmt.Errorf("workflow: ImportStartsAt %q is not a step", w.ImportStartsAt)
	}
	return nil
}

// stateMachineDefinition renders the workflow for a Standard state machine
// whose task Lambda is taskARN (a literal ARN, a CDK token or a
// "${Name}" definition substitution); callTimeout bounds a poll call.
func stateMachineDefinition(w provision.Workflow, taskARN string, callTimeout time.Duration) (string, error) {
	if err := validateWorkflow(w); err != nil {
		return "", err
	}
	states := map[string]any{}
	first := w.Steps[0].Name
	if w.ImportStartsAt != "" && w.ImportStartsAt != first {
		states[stateStart] = map[string]any{
			"Type": "Choice",
			"Choices": []any{map[string]any{"And": []any{
				map[string]any{"Variable": "$.imported", "IsPresent": true},
				map[string]any{"Variable": "$.imported", "IsBoolean": true},
				map[string]any{"Variable": "$.imported", "BooleanEquals": true},
			}, "Next": w.ImportStartsAt}},
			"Default": first,
		}
	} else {
		states[stateStart] = map[string]any{"Type": "Pass", "Next": first}
	}

	for i, s := range w.Steps {
		next := stateSucceeded
		if i+1 < len(w.Steps) {
			next = w.Steps[i+1].Name
		}
		timeout := s.Timeout
		if s.Poll || timeout <= 0 {
			timeout = callTimeout
		}
		states[s.Name] = setTask(s.Task, callState(s.Name))
		call := invoke(taskARN, timeout, s.Retry)
		call["OutputPath"] = "$.Payload" // the task returns the whole state document
		call["Catch"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": failedState(s.Name)}}
		call["Next"] = next
		states[callState(s.Name)] = call

		onError := stateFailed
		if s.Catch != "" {
			onError = w.Compensation.Name
		}
		// Name the failed step beside Step Functions' Error and Cause, as
		// the runner's Failure does.
		states[failedState(s.Name)] = map[string]any{
			"Type":       "Pass",
			"Parameters": map[string]any{"Step": s.Name, "Error.$": "$.error.Error", "Cause.$": "$.error.Cause"},
			"ResultPath": "$.error",
			"Next":       onError,
		}
		if !s.Poll {
			continue
		}
		call["Next"] = checkState(s.Name)
		states[checkState(s.Name)] = map[string]any{
			"Type": "Choice",
			"Choices": []any{
				map[string]any{"And": []any{
					map[string]any{"Variable": w.DonePath, "IsPresent": true},
					map[string]any{"Variable": w.DonePath, "IsBoolean": true},
					map[string]any{"Variable": w.DonePath, "BooleanEquals": true},
				}, "Next": next},
				map[string]any{"And": []any{
					map[string]any{"Variable": w.WaitSecondsPath, "IsPresent": true},
					map[string]any{"Variable": w.WaitSecondsPath, "IsNumeric": true},
					map[string]any{"Variable": w.WaitSecondsPath, "NumericGreaterThanEquals": 1},
				}, "Next": waitState(s.Name)},
			},
			"Default": waitDefaultState(s.Name),
		}
		states[waitState(s.Name)] = map[string]any{"Type": "Wait", "SecondsPath": w.WaitSecondsPath, "Next": s.Name}
		states[waitDefaultState(s.Name)] = map[string]any{"Type": "Wait", "Seconds": seconds(s.PollInterval), "Next": s.Name}
	}

	// The compensation: its result is kept beside the error (not over it),
	// and if it fails too the execution still fails with the original error.
	c := w.Compensation
	states[c.Name] = setTask(c.Task, callState(c.Name))
	comp := invoke(taskARN, max(c.Timeout, time.Second), c.Retry)
	comp["ResultSelector"] = map[string]any{"state.$": "$.Payload"}
	comp["ResultPath"] = "$.compensation"
	comp["Catch"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.compensationError", "Next": stateFailed}}
	comp["Next"] = stateFailed
	states[callState(c.Name)] = comp

	states[stateSucceeded] = map[string]any{"Type": "Succeed"}
	states[stateFailed] = map[string]any{"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}

	def := map[string]any{
		"Comment":        "CML worker provisioning, generated from internal/provision.Spec() by infra/workflow.go",
		"StartAt":        stateStart,
		"TimeoutSeconds": seconds(machineTimeout(w)),
		"States":         states,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "${TaskFunctionArn}" readable
	if err := enc.Encode(def); err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(buf.Bytes())), nil
}

// setTask is the Pass state that names the task in the state document.
func setTask(task, next string) map[string]any {
	return map[string]any{"Type": "Pass", "Result": task, "ResultPath": "$.task", "Next": next}
}

// invoke is a Lambda call of the task function with the whole document.
func invoke(taskARN string, timeout time.Duration, r provision.Retry) map[string]any {
	return map[string]any{
		"Type":           "Task",
		"Resource":       "arn:aws:states:::lambda:invoke",
		"Parameters":     map[string]any{"FunctionName": taskARN, "Payload.$": "$"},
		"TimeoutSeconds": seconds(timeout),
		"Retry":          retriers(r),
	}
}

// retriers turns a spec retry into ASL retriers. The Lambda service's
// transient errors come first; "States.ALL" must stand alone and last.
func retriers(r provision.Retry) []any {
	out := []any{lambdaTransient}
	if len(r.ErrorEquals) == 0 || r.MaxAttempts <= 1 {
		return out
	}
	errs := r.ErrorEquals
	if slices.Contains(errs, provision.ErrorAll) {
		errs = []string{provision.ErrorAll}
	}
	backoff := r.Backoff
	if backoff < 1 {
		backoff = 1
	}
	return append(out, map[string]any{
		"ErrorEquals":     errs,
		"IntervalSeconds": max(1, seconds(r.Interval)),
		"MaxAttempts":     r.MaxAttempts - 1, // ASL counts retries, the spec attempts
		"BackoffRate":     backoff,
	})
}

func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }
