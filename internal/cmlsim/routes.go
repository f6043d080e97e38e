package cmlsim

import "net/http"

// routes is the simulated API. Paths follow the CML 2.9 OpenAPI document;
// everything but authenticate, auth_extended, system_information and
// maintenance_mode needs a bearer token, as on a real controller.
func (s *Sim) routes() *http.ServeMux {
	m := http.NewServeMux()
	const p = "/api/v0"
	a := s.authed
	admin := func(h authedHandler) http.HandlerFunc { return s.authed(adminOnly(h)) }

	// Unauthenticated.
	m.HandleFunc("GET "+p+"/system_information", s.handleSystemInformation)
	m.HandleFunc("POST "+p+"/authenticate", s.handleAuthenticate)
	m.HandleFunc("POST "+p+"/auth_extended", s.handleAuthExtended)
	m.HandleFunc("GET "+p+"/system/maintenance_mode", s.handleMaintenanceMode)

	// Session and users.
	m.HandleFunc("GET "+p+"/authok", a(s.handleAuthOK))
	m.HandleFunc("DELETE "+p+"/logout", a(s.handleLogout))
	m.HandleFunc("GET "+p+"/users", a(s.handleUsers))
	m.HandleFunc("GET "+p+"/users/{user_id}", a(s.handleUser))
	m.HandleFunc("GET "+p+"/users/{username}/id", a(s.handleUserID))

	// Labs.
	m.HandleFunc("GET "+p+"/labs", a(s.handleListLabs))
	m.HandleFunc("POST "+p+"/labs", a(s.handleCreateLab))
	m.HandleFunc("POST "+p+"/import", a(s.handleImport))
	m.HandleFunc("GET "+p+"/populate_lab_tiles", a(s.handleLabTiles))
	m.HandleFunc("GET "+p+"/nodes", a(s.handleAllNodes))
	lab := func(op labOp) http.HandlerFunc { return a(s.withLab(op)) }
	m.HandleFunc("GET "+p+"/labs/{lab_id}", lab(s.handleGetLab))
	m.HandleFunc("PATCH "+p+"/labs/{lab_id}", lab(s.handlePatchLab))
	m.HandleFunc("DELETE "+p+"/labs/{lab_id}", lab(s.handleDeleteLab))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/start", lab(s.handleStartLab))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/stop", lab(s.handleStopLab))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/wipe", lab(s.handleWipeLab))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/state", lab(s.handleLabState))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/check_if_converged", lab(s.handleLabConverged))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/topology", lab(s.handleTopology))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/download", lab(s.handleDownload))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/events", lab(s.handleLabEvents))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/lab_element_state", lab(s.handleElementState))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/simulation_stats", lab(s.handleSimulationStats))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/layer3_addresses", lab(s.handleLayer3))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/resource_pools", lab(s.handleLabResourcePools))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/annotations", lab(s.handleAnnotations))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/smart_annotations", lab(s.handleSmartAnnotations))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/bootstrap", lab(s.handleBootstrap))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/bootstrap", lab(s.handleBootstrap))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/nodes", lab(s.handleLabNodes))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/links", lab(s.handleLabLinks))
	node := func(op nodeOp) http.HandlerFunc { return a(s.withNode(op)) }
	m.HandleFunc("GET "+p+"/labs/{lab_id}/nodes/{node_id}", node(s.handleNode))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/nodes/{node_id}/state", node(s.handleNodeState))
	m.HandleFunc("GET "+p+"/labs/{lab_id}/nodes/{node_id}/check_if_converged", node(s.handleNodeConverged))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/nodes/{node_id}/state/start", node(s.handleNodeStart))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/nodes/{node_id}/state/stop", node(s.handleNodeStop))
	m.HandleFunc("PUT "+p+"/labs/{lab_id}/nodes/{node_id}/wipe_disks", node(s.handleNodeWipe))
	m.HandleFunc("GET "+p+"/resource_pools", a(s.handleResourcePools))

	// System.
	m.HandleFunc("GET "+p+"/system_stats", a(s.handleSystemStats))
	m.HandleFunc("GET "+p+"/system_health", a(s.handleSystemHealth))
	m.HandleFunc("GET "+p+"/system/compute_hosts", admin(s.handleComputeHosts))
	m.HandleFunc("GET "+p+"/system/notices", a(s.handleNotices))
	m.HandleFunc("GET "+p+"/web_session_timeout", a(s.handleWebSessionTimeout))
	m.HandleFunc("GET "+p+"/diagnostics/{category}", admin(s.handleDiagnostics))
	m.HandleFunc("GET "+p+"/telemetry/events", admin(s.handleTelemetryEvents))
	m.HandleFunc("GET "+p+"/telemetry", admin(s.handleTelemetrySettings))

	// Licensing (administrators only).
	m.HandleFunc("GET "+p+"/licensing", admin(s.handleLicensing))
	m.HandleFunc("GET "+p+"/licensing/features", admin(s.handleLicensingFeatures))
	m.HandleFunc("PATCH "+p+"/licensing/features", admin(s.handleUpdateFeatures))
	m.HandleFunc("GET "+p+"/licensing/tech_support", admin(s.handleLicensingTechSupport))
	m.HandleFunc("POST "+p+"/licensing/registration", admin(s.handleRegister))
	m.HandleFunc("PUT "+p+"/licensing/registration/renew", admin(s.handleRenew))
	m.HandleFunc("PUT "+p+"/licensing/authorization/renew", admin(s.handleRenew))
	m.HandleFunc("DELETE "+p+"/licensing/deregistration", admin(s.handleDeregister))
	m.HandleFunc("PUT "+p+"/licensing/product_license", admin(s.handleProductLicense))
	m.HandleFunc("PUT "+p+"/licensing/transport", admin(s.handleTransport))

	// Definitions.
	m.HandleFunc("GET "+p+"/node_definitions", a(s.handleNodeDefinitions))
	m.HandleFunc("GET "+p+"/node_definitions/{def_id}", a(s.handleNodeDefinition))
	m.HandleFunc("GET "+p+"/node_definitions/{def_id}/image_definitions", a(s.handleNodeDefinitionImages))
	m.HandleFunc("GET "+p+"/simplified_node_definitions", a(s.handleSimplifiedNodeDefinitions))
	m.HandleFunc("GET "+p+"/image_definitions", a(s.handleImageDefinitions))
	m.HandleFunc("GET "+p+"/image_definitions/{def_id}", a(s.handleImageDefinition))

	// Anything else under /api/v0 gets CML's error body rather than the
	// mux's plain-text 404/405.
	m.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found: "+r.Method+" "+r.URL.Path)
	})
	return m
}
