package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/provision"
)

// The generated ASL is executed here by a small interpreter of exactly the
// subset the generator emits (Pass, Task, Choice, Wait, Succeed, Fail;
// Parameters, Result, ResultSelector, ResultPath, OutputPath, Retry, Catch)
// against a fake task Lambda that takes and returns provision.State — so
// the test also proves the document's field names match the Go type.

// lambdaError is a Lambda error as Step Functions sees it.
type lambdaError struct{ name, message string }

func (e lambdaError) Error() string { return e.name + ": " + e.message }

type fakeTask func(st provision.State) (provision.State, error)

type execution struct {
	status string // SUCCEEDED or FAILED
	err    string // the Fail state's error
	waited time.Duration
	doc    map[string]any
}

func execute(t *testing.T, asl string, input map[string]any, task fakeTask) execution {
	t.Helper()
	var def struct {
		StartAt string
		States  map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(asl), &def); err != nil {
		t.Fatalf("definition is not JSON: %v", err)
	}
	var ex execution
	doc := any(input)
	name := def.StartAt
	attempts := map[string]int{} // per state entry and retrier
	for range 100000 {
		st, ok := def.States[name]
		if !ok {
			t.Fatalf("transition to unknown state %q", name)
		}
		next, _ := st["Next"].(string)
		switch st["Type"] {
		case "Pass":
			var result any = doc
			if p, ok := st["Parameters"]; ok {
				result = evalParams(t, p, doc)
			} else if r, ok := st["Result"]; ok {
				result = r
			}
			doc = applyResultPath(t, st, doc, result)
		case "Task":
			params := evalParams(t, st["Parameters"], doc).(map[string]any)
			out, err := callTask(t, params["Payload"], task)
			if err != nil {
				var le lambdaError
				if !errors.As(err, &le) {
					t.Fatalf("task: %v", err)
				}
				retried := false
				for i, r := range list(st["Retry"]) {
					r := r.(map[string]any)
					if !matches(r["ErrorEquals"], le.name) {
						continue
					}
					key := fmt.Sprint(name, "#", i)
					if attempts[key] < toInt(r["MaxAttempts"]) {
						ex.waited += time.Duration(float64(toInt(r["IntervalSeconds"]))*math.Pow(r["BackoffRate"].(float64), float64(attempts[key]))) * time.Second
						attempts[key]++
						retried = true
					}
					break
				}
				if retried {
					next = name
					break
				}
				clearAttempts(attempts, name)
				caught := false
				for _, c := range list(st["Catch"]) {
					c := c.(map[string]any)
					if matches(c["ErrorEquals"], le.name) {
						cause, _ := json.Marshal(map[string]string{"errorMessage": le.message, "errorType": le.name})
						doc = setPath(t, doc, c["ResultPath"].(string), map[string]any{"Error": le.name, "Cause": string(cause)})
						next, caught = c["Next"].(string), true
						break
					}
				}
				if !caught {
					ex.status, ex.err = "FAILED", le.name
					return ex
				}
				break
			}
			clearAttempts(attempts, name)
			result := map[string]any{"ExecutedVersion": "$LATEST", "StatusCode": 200.0, "Payload": out}
			var sel any = result
			if rs, ok := st["ResultSelector"]; ok {
				sel = evalParams(t, rs, result)
			}
			doc = applyResultPath(t, st, doc, sel)
		case "Choice":
			next = st["Default"].(string)
			for _, c := range st["Choices"].([]any) {
				if evalRule(t, c.(map[string]any), doc) {
					next = c.(map[string]any)["Next"].(string)
					break
				}
			}
		case "Wait":
			secs := toInt(st["Seconds"])
			if p, ok := st["SecondsPath"].(string); ok {
				secs = toInt(getPath(doc, p))
			}
			ex.waited += time.Duration(secs) * time.Second
		case "Succeed":
			ex.status, ex.doc = "SUCCEEDED", doc.(map[string]any)
			return ex
		case "Fail":
			ex.status, ex.doc = "FAILED", doc.(map[string]any)
			ex.err, _ = getPath(doc, st["ErrorPath"].(string)).(string)
			return ex
		default:
			t.Fatalf("state %s: unexpected type %v", name, st["Type"])
		}
		name = next
	}
	t.Fatal("execution did not end")
	return ex
}

func clearAttempts(a map[string]int, state string) {
	for k := range a {
		if strings.HasPrefix(k, state+"#") {
			delete(a, k)
		}
	}
}

// callTask runs the fake Lambda on the JSON payload, through provision.State.
func callTask(t *testing.T, payload any, task fakeTask) (map[string]any, error) {
	raw, _ := json.Marshal(payload)
	var st provision.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("payload is not a provision.State: %v", err)
	}
	out, err := task(st)
	if err != nil {
		return nil, err
	}
	raw, _ = json.Marshal(out)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m, nil
}

func applyResultPath(t *testing.T, st map[string]any, doc, result any) any {
	if rp, ok := st["ResultPath"].(string); ok {
		doc = setPath(t, doc, rp, result)
	} else {
		doc = result
	}
	if op, ok := st["OutputPath"].(string); ok {
		doc = getPath(doc, op)
	}
	return doc
}

func matches(errs any, name string) bool {
	for _, e := range list(errs) {
		if e == "States.ALL" || e == name {
			return true
		}
	}
	return false
}

func toInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int:
		return x
	}
	return 0
}

func evalParams(t *testing.T, p any, doc any) any {
	m, ok := p.(map[string]any)
	if !ok {
		return p
	}
	out := map[string]any{}
	for k, v := range m {
		if strings.HasSuffix(k, ".$") {
			out[strings.TrimSuffix(k, ".$")] = getPath(doc, v.(string))
			continue
		}
		out[k] = evalParams(t, v, doc)
	}
	return out
}

func getPath(doc any, p string) any {
	if p == "$" {
		return doc
	}
	v := doc
	for _, k := range strings.Split(strings.TrimPrefix(p, "$."), ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func setPath(t *testing.T, doc any, p string, value any) any {
	if p == "$" {
		return value
	}
	keys := strings.Split(strings.TrimPrefix(p, "$."), ".")
	root := cloneMap(doc.(map[string]any))
	m := root
	for _, k := range keys[:len(keys)-1] {
		child, _ := m[k].(map[string]any)
		child = cloneMap(child)
		m[k] = child
		m = child
	}
	m[keys[len(keys)-1]] = value
	return root
}

func cloneMap(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func evalRule(t *testing.T, r map[string]any, doc any) bool {
	if and, ok := r["And"]; ok {
		for _, c := range and.([]any) {
			if !evalRule(t, c.(map[string]any), doc) {
				return false // short-circuit, as Step Functions does
			}
		}
		return true
	}
	v := getPath(doc, r["Variable"].(string))
	switch {
	case r["IsPresent"] != nil:
		return (v != nil) == r["IsPresent"].(bool)
	case r["IsBoolean"] != nil:
		_, ok := v.(bool)
		return ok == r["IsBoolean"].(bool)
	case r["IsNumeric"] != nil:
		_, ok := v.(float64)
		return ok == r["IsNumeric"].(bool)
	}
	if v == nil {
		t.Fatalf("choice rule on a missing variable %v (States.Runtime in Step Functions)", r)
	}
	switch {
	case r["BooleanEquals"] != nil:
		return v.(bool) == r["BooleanEquals"].(bool)
	case r["NumericGreaterThanEquals"] != nil:
		return v.(float64) >= r["NumericGreaterThanEquals"].(float64)
	}
	t.Fatalf("unsupported choice rule %v", r)
	return false
}

func definition(t *testing.T) string {
	t.Helper()
	asl, err := provisioningDefinition("arn:aws:lambda:eu-west-1:123456789012:function:provision")
	if err != nil {
		t.Fatal(err)
	}
	return asl
}

// polling answers done on the n-th call of a poll task.
func happy(pollsUntilDone int, waitSeconds int) (fakeTask, *[]string) {
	var calls []string
	n := map[string]int{}
	return func(st provision.State) (provision.State, error) {
		calls = append(calls, st.Task)
		st.Done = true
		if s, _ := provisioningWorkflow().Step(st.Task); s.Poll {
			n[st.Task]++
			st.Done = n[st.Task] >= pollsUntilDone
			st.WaitSeconds = waitSeconds
		}
		if st.Task == provision.StepLaunch {
			st.InstanceID, st.Launched = "i-0123456789abcdef0", true
		}
		return st, nil
	}, &calls
}

func TestStateMachineRunsTheSpecInOrder(t *testing.T) {
	w := provisioningWorkflow()
	task, calls := happy(3, 7)
	ex := execute(t, definition(t), map[string]any{"workerId": "w-1"}, task)
	if ex.status != "SUCCEEDED" {
		t.Fatalf("status %s (%s)", ex.status, ex.err)
	}
	var want []string
	polls := 0
	for _, s := range w.Steps {
		n := 1
		if s.Poll {
			n, polls = 3, polls+1
		}
		for range n {
			want = append(want, s.Task)
		}
	}
	if strings.Join(*calls, ",") != strings.Join(want, ",") {
		t.Errorf("calls\n %v\nwant\n %v", *calls, want)
	}
	// Two waits per poll step, each the 7 s the task asked for.
	if ex.waited != time.Duration(polls*2*7)*time.Second {
		t.Errorf("waited %s", ex.waited)
	}
	if ex.doc["workerId"] != "w-1" || ex.doc["instanceId"] != "i-0123456789abcdef0" {
		t.Errorf("state document not carried through: %v", ex.doc)
	}
}

func TestStateMachineImportJoinsAtImportStartsAt(t *testing.T) {
	w := provisioningWorkflow()
	task, calls := happy(1, 1)
	ex := execute(t, definition(t), map[string]any{"workerId": "w-1", "imported": true}, task)
	if ex.status != "SUCCEEDED" {
		t.Fatalf("status %s", ex.status)
	}
	if (*calls)[0] != w.ImportStartsAt {
		t.Errorf("import started at %s, want %s", (*calls)[0], w.ImportStartsAt)
	}
	for _, c := range *calls {
		if c == provision.StepValidate || c == provision.StepLaunch {
			t.Errorf("import ran %s", c)
		}
	}
}

func TestStateMachineWaitsThePollIntervalWhenTheTaskSaysNothing(t *testing.T) {
	w := provisioningWorkflow()
	task, _ := happy(2, 0)
	ex := execute(t, definition(t), map[string]any{"workerId": "w-1"}, task)
	var want time.Duration
	for _, s := range w.Steps {
		if s.Poll {
			want += time.Duration(seconds(s.PollInterval)) * time.Second
		}
	}
	if ex.status != "SUCCEEDED" || ex.waited != want {
		t.Errorf("status %s waited %s, want %s", ex.status, ex.waited, want)
	}
}

func TestStateMachineRetriesTransientErrorsThenCompensates(t *testing.T) {
	w := provisioningWorkflow()
	launch, _ := w.Step(provision.StepLaunch)
	for _, failures := range []int{launch.Retry.MaxAttempts - 1, launch.Retry.MaxAttempts} {
		var calls []string
		var compensated *provision.Failure
		n := 0
		ex := execute(t, definition(t), map[string]any{"workerId": "w-1"}, func(st provision.State) (provision.State, error) {
			calls = append(calls, st.Task)
			st.Done = true
			switch st.Task {
			case provision.StepLaunch:
				if n++; n <= failures {
					return st, lambdaError{provision.ErrorTransient, "throttled"}
				}
			case w.Compensation.Task:
				compensated = st.Error
			}
			return st, nil
		})
		launches := strings.Count(strings.Join(calls, ","), provision.StepLaunch)
		if failures < launch.Retry.MaxAttempts {
			// Within the spec's attempts: the workflow goes on.
			if ex.status != "SUCCEEDED" || launches != failures+1 {
				t.Errorf("%d failures: status %s, %d launches", failures, ex.status, launches)
			}
			continue
		}
		if ex.status != "FAILED" || ex.err != provision.ErrorTransient || launches != launch.Retry.MaxAttempts {
			t.Errorf("%d failures: status %s error %s, %d launches (want %d)", failures, ex.status, ex.err, launches, launch.Retry.MaxAttempts)
		}
		if compensated == nil || compensated.Step != provision.StepLaunch || compensated.Error != provision.ErrorTransient ||
			compensated.Text() != "throttled" {
			t.Errorf("compensation got %+v", compensated)
		}
	}
}

func TestStateMachineCompensatesATimedOutWaitAndFailsWithItsError(t *testing.T) {
	w := provisioningWorkflow()
	var calls []string
	ex := execute(t, definition(t), map[string]any{"workerId": "w-1"}, func(st provision.State) (provision.State, error) {
		calls = append(calls, st.Task)
		st.Done = true
		if st.Task == provision.StepWaitCMLReady {
			return st, lambdaError{provision.ErrorTimeout, "wait-cml-ready: timed out after 30m0s"}
		}
		if st.Task == w.Compensation.Task {
			// A broken compensation still ends the execution with the
			// original error.
			return st, lambdaError{"StepFailed", "terminate failed"}
		}
		return st, nil
	})
	if ex.status != "FAILED" || ex.err != provision.ErrorTimeout {
		t.Fatalf("status %s error %s", ex.status, ex.err)
	}
	if calls[len(calls)-1] != w.Compensation.Task {
		t.Errorf("last call %s, want the compensation", calls[len(calls)-1])
	}
	if getPath(ex.doc, "$.compensationError.Error") != "StepFailed" {
		t.Errorf("compensation error not kept: %v", ex.doc["compensationError"])
	}
}

// TestDefinitionMatchesSpec checks the generated machine state by state
// against the spec it came from.
func TestDefinitionMatchesSpec(t *testing.T) {
	w := provisioningWorkflow()
	var def struct {
		StartAt        string
		TimeoutSeconds int
		States         map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(definition(t)), &def); err != nil {
		t.Fatal(err)
	}
	if def.TimeoutSeconds != seconds(w.TotalTimeout+w.Compensation.Timeout) {
		t.Errorf("TimeoutSeconds %d, want total %s + compensation %s", def.TimeoutSeconds, w.TotalTimeout, w.Compensation.Timeout)
	}
	for _, s := range append(w.Steps, w.Compensation) {
		if def.States[s.Name]["Result"] != s.Task {
			t.Errorf("%s: sets task %v, want %s", s.Name, def.States[s.Name]["Result"], s.Task)
		}
		call := def.States[callState(s.Name)]
		want := s.Timeout
		if s.Poll || want <= 0 {
			want = taskTimeout(w)
		}
		if toInt(call["TimeoutSeconds"]) != seconds(want) {
			t.Errorf("%s: call timeout %v, want %s", s.Name, call["TimeoutSeconds"], want)
		}
		retries := list(call["Retry"])
		last := retries[len(retries)-1].(map[string]any)
		if s.Retry.MaxAttempts > 1 && (toInt(last["MaxAttempts"]) != s.Retry.MaxAttempts-1 ||
			toInt(last["IntervalSeconds"]) != seconds(s.Retry.Interval) || last["BackoffRate"] != s.Retry.Backoff) {
			t.Errorf("%s: retrier %v, want %+v", s.Name, last, s.Retry)
		}
		if s.Poll {
			if toInt(def.States[waitDefaultState(s.Name)]["Seconds"]) != seconds(s.PollInterval) ||
				def.States[waitState(s.Name)]["SecondsPath"] != w.WaitSecondsPath {
				t.Errorf("%s: waits %v / %v", s.Name, def.States[waitDefaultState(s.Name)], def.States[waitState(s.Name)])
			}
		}
	}
	// Every transition lands on a state, and every state is reachable.
	reach := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if reach[n] {
			return
		}
		st, ok := def.States[n]
		if !ok {
			t.Errorf("transition to missing state %q", n)
			return
		}
		reach[n] = true
		for _, k := range []string{"Next", "Default"} {
			if v, ok := st[k].(string); ok {
				walk(v)
			}
		}
		for _, c := range append(list(st["Choices"]), list(st["Catch"])...) {
			walk(c.(map[string]any)["Next"].(string))
		}
	}
	walk(def.StartAt)
	for n := range def.States {
		if !reach[n] {
			t.Errorf("state %q is unreachable", n)
		}
	}
}

func TestValidateWorkflow(t *testing.T) {
	good := provisioningWorkflow()
	bad := map[string]func(w *provision.Workflow){
		"no steps":            func(w *provision.Workflow) { w.Steps = nil },
		"no compensation":     func(w *provision.Workflow) { w.Compensation = provision.Step{} },
		"repeated step":       func(w *provision.Workflow) { w.Steps = append(w.Steps, w.Steps[0]) },
		"catch elsewhere":     func(w *provision.Workflow) { w.Steps[0].Catch = "nowhere" },
		"fast poll":           func(w *provision.Workflow) { w.Steps[2].PollInterval = 0 },
		"bad import step":     func(w *provision.Workflow) { w.ImportStartsAt = "nowhere" },
		"done path not JSONP": func(w *provision.Workflow) { w.DonePath = "done" },
	}
	if _, err := stateMachineDefinition(good, "arn", time.Minute); err != nil {
		t.Fatalf("spec rejected: %v", err)
	}
	for name, mutate := range bad {
		w := provisioningWorkflow()
		w.Steps = append([]provision.Step(nil), w.Steps...)
		mutate(&w)
		if _, err := stateMachineDefinition(w, "arn", time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
