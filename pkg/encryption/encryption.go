// Package encryption decides how secretfed's objects are encrypted at rest.
// The apiserver library applies the standard EncryptionConfiguration; this
// package generates a default one on first start and refuses configurations
// that would leave FederatedSecrets in plain text.
package encryption

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"
)

const (
	// DefaultConfigFile is the generated configuration's name in the data directory.
	DefaultConfigFile = "encryption-config.yaml"
	// FederatedSecretsResource is the group resource as EncryptionConfiguration names it.
	FederatedSecretsResource = "federatedsecrets.secretfed.io"
	// FederatedClustersResource is the group resource as EncryptionConfiguration names it.
	FederatedClustersResource = "federatedclusters.secretfed.io"
)

// EnsureDefaultConfig returns the path of the generated configuration in
// dataDir, generating a new secretbox key (mode 0600) if there is none yet.
// created tells whether a key was generated now.
func EnsureDefaultConfig(dataDir string) (path string, created bool, err error) {
	path = filepath.Join(dataDir, DefaultConfigFile)
	if st, err := os.Stat(path); err == nil {
		if st.Mode().Perm()&0o077 != 0 {
			return "", false, fmt.Errorf("%s is readable by others (mode %#o): it holds the encryption key; chmod 0600 it", path, st.Mode().Perm())
		}
		return path, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", false, fmt.Errorf("generating an encryption key: %w", err)
	}
	cfg := apiserverv1.EncryptionConfiguration{
		Resources: []apiserverv1.ResourceConfiguration{{
			Resources: []string{FederatedSecretsResource, FederatedClustersResource},
			Providers: []apiserverv1.ProviderConfiguration{{
				Secretbox: &apiserverv1.SecretboxConfiguration{Keys: []apiserverv1.Key{{
					Name:   "key1",
					Secret: base64.StdEncoding.EncodeToString(key),
				}}},
			}},
		}},
	}
	cfg.APIVersion = apiserverv1.SchemeGroupVersion.String()
	cfg.Kind = "EncryptionConfiguration"
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", false, err
	}
	// Write to a temporary file first so a crash never leaves half a key.
	tmp, err := os.CreateTemp(dataDir, ".encryption-config-*")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, err
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", false, err
	}
	return path, true, nil
}

// ErrUnencrypted is returned when federatedsecrets would be stored in plain text.
var ErrUnencrypted = errors.New("federatedsecrets.secretfed.io would be stored unencrypted")

// CheckFederatedSecretsEncrypted reads an EncryptionConfiguration and fails
// when the provider that writes federatedsecrets.secretfed.io is identity, or
// when no entry covers the resource at all.
func CheckFederatedSecretsEncrypted(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg apiserverv1.EncryptionConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, rc := range cfg.Resources {
		if !covers(rc.Resources, FederatedSecretsResource) {
			continue
		}
		if len(rc.Providers) == 0 {
			return fmt.Errorf("%s: resources[%d] has no providers", path, i)
		}
		if rc.Providers[0].Identity != nil {
			return fmt.Errorf("%w: in %s the first provider of resources[%d] is identity (pass --allow-unencrypted-storage to accept this)", ErrUnencrypted, path, i)
		}
		return nil
	}
	return fmt.Errorf("%w: %s has no entry for %s (pass --allow-unencrypted-storage to accept this)", ErrUnencrypted, path, FederatedSecretsResource)
}

// covers mirrors how the apiserver matches resource names: exact group
// resource, the group wildcard, or the global wildcard.
func covers(resources []string, groupResource string) bool {
	for _, r := range resources {
		switch r {
		case groupResource, "*.secretfed.io", "*.*":
			return true
		}
	}
	return false
}
