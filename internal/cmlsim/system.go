package cmlsim

import (
	"net/http"
	"time"
)

const gib = 1 << 30

// systemInformation renders SystemInformation. Callers hold s.mu.
func (s *Sim) systemInformation(now time.Time) map[string]any {
	return map[string]any{
		"version":               Version,
		"ready":                 s.ready(now),
		"allow_ssh_pubkey_auth": false,
		"oui":                   "52:54:00:00:00:00",
	}
}

// GET /system_information: no authentication; virl2-client calls it
// before logging in to check the controller version.
func (s *Sim) handleSystemInformation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body := s.systemInformation(s.clock())
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// GET /system_stats: one compute (the controller itself), figures from the
// simulated load.
func (s *Sim) handleSystemStats(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	s.advance(s.clock())
	ld := s.load()
	var allocCPUs, allocMem int
	for _, l := range s.st.Labs {
		for _, n := range l.Nodes {
			if n.running() {
				sp := nodeSpecFor(n)
				allocCPUs += sp.CPUs
				allocMem += sp.RAM
			}
		}
	}
	host := s.opts.Host
	s.mu.Unlock()

	memTotal := float64(host.MemoryGiB) * gib
	memUsed := memTotal * ld.MemoryPercent / 100
	diskTotal := float64(host.DiskGiB) * gib
	diskUsed := diskTotal * ld.DiskPercent / 100
	cpu := map[string]any{
		"count":     host.CPUs,
		"percent":   ld.CPUPercent,
		"model":     "Intel(R) Xeon(R) Platinum 8252C CPU @ 3.80GHz",
		"predicted": host.CPUs,
		"load":      []float64{loadAvg(ld.CPUPercent, host.CPUs), loadAvg(ld.CPUPercent, host.CPUs), loadAvg(ld.CPUPercent, host.CPUs)},
	}
	memory := map[string]any{"used": memUsed, "free": memTotal - memUsed, "total": memTotal}
	disk := map[string]any{"used": diskUsed, "free": diskTotal - diskUsed, "total": diskTotal}
	writeJSON(w, http.StatusOK, map[string]any{
		"computes": map[string]any{
			s.computeID: map[string]any{
				"hostname":      s.opts.Hostname,
				"is_controller": true,
				"stats": map[string]any{
					"cpu": cpu, "memory": memory, "disk": disk,
					"dominfo": map[string]any{
						"total_nodes": ld.TotalNodes, "total_orphans": 0,
						"running_nodes": ld.RunningNodes, "running_orphans": 0,
						"allocated_cpus": allocCPUs, "allocated_memory": allocMem,
					},
				},
			},
		},
		"all": map[string]any{
			"cpu":    map[string]any{"count": host.CPUs, "percent": ld.CPUPercent},
			"memory": memory,
			"disk":   disk,
		},
		"controller": map[string]any{"disk": disk},
	})
}

// loadAvg turns a utilisation into a Unix load average for that many CPUs.
func loadAvg(percent float64, cpus int) float64 { return round2(percent / 100 * float64(cpus)) }

// GET /system_health
func (s *Sim) handleSystemHealth(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	ready := s.ready(now)
	lic := s.st.Licensing
	licensed := lic.Registration == regCompleted
	enterprise := isEnterprise(lic.ProductLicense)
	s.mu.Unlock()
	admission := "READY"
	if !ready {
		admission = "ONLINE"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"valid":         ready,
		"is_licensed":   licensed,
		"is_enterprise": enterprise,
		"controller": map[string]any{
			"core_connected": true, "nodes_loaded": true, "images_loaded": true, "valid": true,
		},
		"computes": map[string]any{
			s.computeID: map[string]any{
				"kvm_vmx_enabled": true, "enough_cpus": true, "lld_connected": ready, "lld_synced": ready,
				"libvirt": true, "fabric": true, "device_mux": true, "refplat_images_available": true,
				"docker_shim": true, "valid": ready, "admission_state": admission,
				"is_controller": true, "hostname": s.opts.Hostname,
			},
		},
	})
}

// GET /system/compute_hosts: exactly the ComputeHostBase keys
// (virl2-client builds objects from them and rejects extra keys).
func (s *Sim) handleComputeHosts(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	now := s.clock()
	s.advance(now)
	ready := s.ready(now)
	ld := s.load()
	nodes := []string{}
	for _, l := range s.st.Labs {
		for _, n := range l.Nodes {
			if n.running() {
				nodes = append(nodes, n.ID)
			}
		}
	}
	s.mu.Unlock()
	admission := "READY"
	if !ready {
		admission = "ONLINE"
	}
	writeJSON(w, http.StatusOK, []any{map[string]any{
		"id": s.computeID, "hostname": s.opts.Hostname, "server_address": "127.0.0.1",
		"is_simulator": true, "is_connector": true, "is_connected": true, "is_synced": ready,
		"admission_state": admission,
		"node_counts": map[string]any{
			"total_nodes": ld.TotalNodes, "total_orphans": 0, "running_nodes": ld.RunningNodes, "running_orphans": 0,
		},
		"nodes": nodes,
	}})
}

// GET /system/notices → [] (virl2-client cannot parse the OpenAPI
// "activated" key, so a real-looking notice would break it anyway).
func (s *Sim) handleNotices(w http.ResponseWriter, r *http.Request, u *user) {
	writeJSON(w, http.StatusOK, []any{})
}

// GET /system/maintenance_mode (no authentication).
func (s *Sim) handleMaintenanceMode(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"maintenance_mode": false, "notice": nil, "resolved_notice": nil})
}

// GET /web_session_timeout → seconds.
func (s *Sim) handleWebSessionTimeout(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	ttl := s.faults.TokenTTL
	s.mu.Unlock()
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	writeJSON(w, http.StatusOK, int(ttl.Seconds()))
}

// GET /diagnostics/{category}: licensing and user_list are simulated;
// other categories answer 404 (virl2-client's get_diagnostics tolerates
// errors per category).
func (s *Sim) handleDiagnostics(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	switch cat := r.PathValue("category"); cat {
	case "licensing":
		var quota any
		if limit := s.nodeLimit(); limit >= 0 {
			quota = limit
		}
		started := s.licensedRunning()
		userStarted := 0
		for _, l := range s.st.Labs {
			if l.Owner != u.ID {
				continue
			}
			for _, n := range l.Nodes {
				if n.running() && !unlicensed(n) {
					userStarted++
				}
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota": quota, "started": started, "user_quota": nil, "user_started": userStarted})
	case "user_list":
		out := []map[string]any{}
		for _, x := range s.st.Users {
			out = append(out, s.userJSON(x))
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeError(w, http.StatusNotFound, "Diagnostics category not simulated: "+cat)
	}
}
