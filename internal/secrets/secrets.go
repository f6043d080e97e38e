// Package secrets keeps the values that must never reach events, read
// models, logs or API responses: licence tokens and CML worker
// credentials. Production keeps them in AWS Secrets Manager (SecretsManager,
// cached); the local server in a JSON file of the data directory readable
// by its owner only (File).
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// ErrNotFound: no secret has that name.
var ErrNotFound = errors.New("secret not found")

// Store is what both implementations provide.
type Store interface {
	Get(ctx context.Context, name string) (string, error)
	Put(ctx context.Context, name, value string) error
	// Delete removes the secret; deleting a missing one is not an error.
	Delete(ctx context.Context, name string) error
}

// Secret names. They are relative: SecretsManager prefixes them with its
// environment's path.
const (
	// CMLCredentialsName holds the fleet-wide CML API credentials as JSON
	// {"username","password"}; CMLCredentialsName+"/<worker id>" overrides
	// them for one worker.
	CMLCredentialsName = "cml-credentials"
	licensePrefix      = "license-token/"
)

// LicenseTokenName is the secret holding a worker's CML licence token.
func LicenseTokenName(workerID string) string { return licensePrefix + workerID }

// Credentials log in to a worker's CML API.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// String hides the password, so a credential printed by mistake leaks nothing.
func (c Credentials) String() string { return "{" + c.Username + " ********}" }

// LogValue hides the password from log/slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// CMLCredentials returns the worker's CML credentials: its own secret when
// there is one, else the fleet-wide one.
func CMLCredentials(ctx context.Context, s Store, workerID string) (Credentials, error) {
	raw, err := s.Get(ctx, CMLCredentialsName+"/"+workerID)
	if errors.Is(err, ErrNotFound) {
		raw, err = s.Get(ctx, CMLCredentialsName)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("CML credentials of worker %s: %w", workerID, err)
	}
	var c Credentials
	if err := json.Unmarshal([]byte(raw), &c); err != nil || c.Username == "" {
		return Credentials{}, fmt.Errorf("CML credentials of worker %s: the secret is not {\"username\",\"password\"}", workerID)
	}
	return c, nil
}

// PutCMLCredentials stores the fleet-wide CML credentials (workerID "") or
// one worker's.
func PutCMLCredentials(ctx context.Context, s Store, workerID string, c Credentials) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	name := CMLCredentialsName
	if workerID != "" {
		name += "/" + workerID
	}
	return s.Put(ctx, name, string(b))
}

func checkName(name string) error {
	if name == "" || len(name) > 400 || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("secret name %q is not usable", name)
	}
	return nil
}
