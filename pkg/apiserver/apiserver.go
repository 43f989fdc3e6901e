// Package apiserver assembles the secretfed aggregated API server: the scheme,
// the secretfed.io group with its storage, and the hooks that start the
// propagation loop. Flags live in pkg/cmd/server, not here.
package apiserver

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/secretfed/secretfed/pkg/apis/secretfed"
	"github.com/secretfed/secretfed/pkg/apis/secretfed/install"
	"github.com/secretfed/secretfed/pkg/registry/secretfed/federatedcluster"
	"github.com/secretfed/secretfed/pkg/registry/secretfed/federatedsecret"
)

var (
	// Scheme knows the secretfed.io types and the meta types the server needs.
	Scheme = runtime.NewScheme()
	// Codecs serializes the types in Scheme.
	Codecs = serializer.NewCodecFactory(Scheme)
)

// ComponentName names the server's effective version component.
const ComponentName = "secretfed"

func init() {
	install.Install(Scheme)

	// The generic server wants the meta options registered on the empty v1 group.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}

// ExtraConfig is the secretfed-specific part of the configuration.
type ExtraConfig struct {
	// PostStartHooks are started once the server serves, e.g. the propagation loop.
	PostStartHooks map[string]genericapiserver.PostStartHookFunc
}

// Config is the whole server configuration.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

type completedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   *ExtraConfig
}

// CompletedConfig is a Config that has been completed and can build a server.
type CompletedConfig struct {
	*completedConfig
}

// Server is the secretfed aggregated API server.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// Complete fills in defaults that depend on other fields.
func (cfg *Config) Complete() CompletedConfig {
	return CompletedConfig{&completedConfig{cfg.GenericConfig.Complete(), &cfg.ExtraConfig}}
}

// New builds the server and installs the secretfed.io group.
func (c completedConfig) New() (*Server, error) {
	genericServer, err := c.GenericConfig.New("secretfed-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	s := &Server{GenericAPIServer: genericServer}

	apiGroupInfo := genericapiserver.NewDefaultAPIGroupInfo(secretfed.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	fsREST, fsStatus, err := federatedsecret.NewREST(Scheme, c.GenericConfig.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("federatedsecrets storage: %w", err)
	}
	fcREST, fcStatus, err := federatedcluster.NewREST(Scheme, c.GenericConfig.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("federatedclusters storage: %w", err)
	}
	apiGroupInfo.VersionedResourcesStorageMap["v1alpha1"] = map[string]rest.Storage{
		"federatedsecrets":         fsREST,
		"federatedsecrets/status":  fsStatus,
		"federatedclusters":        fcREST,
		"federatedclusters/status": fcStatus,
	}
	if err := s.GenericAPIServer.InstallAPIGroup(&apiGroupInfo); err != nil {
		return nil, err
	}
	for name, hook := range c.ExtraConfig.PostStartHooks {
		if err := s.GenericAPIServer.AddPostStartHook(name, hook); err != nil {
			return nil, err
		}
	}
	return s, nil
}
