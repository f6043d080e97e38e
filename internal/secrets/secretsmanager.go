package secrets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretsManagerAPI is the part of the Secrets Manager client we call.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
}

// DefaultCacheTTL is how long a read secret is served from memory. A Lambda
// container lives minutes to hours; a rotated CML password is picked up
// within this delay (a 401 from CML also drops the cached value through
// Forget).
const DefaultCacheTTL = 5 * time.Minute

// SecretsManager keeps secrets in AWS Secrets Manager under a name prefix
// (e.g. "cmlcm/prod/"), caching reads for a while. Values are never logged.
type SecretsManager struct {
	api    SecretsManagerAPI
	prefix string
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	value   string
	missing bool
	at      time.Time
}

var _ Store = (*SecretsManager)(nil)

// NewSecretsManager returns a store on api; names are prefixed with prefix.
// ttl ≤ 0 takes DefaultCacheTTL.
func NewSecretsManager(api SecretsManagerAPI, prefix string, ttl time.Duration) *SecretsManager {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	return &SecretsManager{api: api, prefix: prefix, ttl: ttl, now: time.Now, cache: map[string]cached{}}
}

// Forget drops a cached value, so the next Get reads Secrets Manager.
func (s *SecretsManager) Forget(name string) {
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
}

func notFound(err error) bool {
	var nf *smtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// Get implements Store. A missing secret is cached too (briefly), so a
// fleet without per-worker credentials does not ask for them every call.
func (s *SecretsManager) Get(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && s.now().Sub(c.at) < s.ttl {
		if c.missing {
			return "", fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return c.value, nil
	}
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.prefix + name)})
	switch {
	case notFound(err):
		s.mu.Lock()
		s.cache[name] = cached{missing: true, at: s.now()}
		s.mu.Unlock()
		return "", fmt.Errorf("%s: %w", name, ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("get secret %s: %w", name, err)
	}
	v := aws.ToString(out.SecretString)
	s.mu.Lock()
	s.cache[name] = cached{value: v, at: s.now()}
	s.mu.Unlock()
	return v, nil
}

// Put implements Store: a new version of an existing secret, or a new secret.
func (s *SecretsManager) Put(ctx context.Context, name, value string) error {
	if err := checkName(name); err != nil {
		return err
	}
	id := aws.String(s.prefix + name)
	_, err := s.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String(value)})
	if notFound(err) {
		_, err = s.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: id, SecretString: aws.String(value),
			Description: aws.String("CML Cloud Manager secret")})
	}
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	s.mu.Lock()
	s.cache[name] = cached{value: value, at: s.now()}
	s.mu.Unlock()
	return nil
}

// Delete implements Store. It deletes without a recovery window: a licence
// token removed from a worker must not linger, and a secret pending
// deletion would block storing a new token under the same name.
func (s *SecretsManager) Delete(ctx context.Context, name string) error {
	_, err := s.api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(s.prefix + name),
		ForceDeleteWithoutRecovery: aws.Bool(true)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	s.Forget(name)
	return nil
}
