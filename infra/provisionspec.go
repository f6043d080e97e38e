package main

import "github.com/cmlcm/cmlcm/internal/provision"

// provisioningWorkflow is the spec the state machine is generated from:
// internal/provision's, the one its local runner executes.
func provisioningWorkflow() provision.Workflow { return provision.Spec() }

// provisioningDefinition returns the state machine's ASL for the task
// Lambda taskARN.
func provisioningDefinition(taskARN string) (string, error) {
	w := provisioningWorkflow()
	return stateMachineDefinition(w, taskARN, taskTimeout(w))
}
