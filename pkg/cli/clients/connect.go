package clients

import (
	"k8s.io/client-go/kubernetes"

	versioned "github.com/secretfed/secretfed/pkg/generated/clientset/versioned"
)

// Host is the cluster that serves secretfed.io. Commands take it as a value
// so that tests can hand in fake clientsets.
type Host struct {
	Target Target
	// Kube is the core API of the host (for the secretfed-system namespace).
	Kube kubernetes.Interface
	// Secretfed is the secretfed.io API of the host; its discovery client
	// tells whether secretfed is installed.
	Secretfed versioned.Interface
}

// Member is a member cluster, reached with the user's own credentials.
type Member struct {
	Target Target
	Kube   kubernetes.Interface
	// Cluster is the kubeconfig's description of the member.
	Cluster Cluster
}

// ConnectHost builds clients for the host context. It reads the kubeconfig
// but sends no request.
func (f *Flags) ConnectHost() (*Host, error) {
	c, err := f.Host()
	if err != nil {
		return nil, err
	}
	kube, err := c.Kube()
	if err != nil {
		return nil, err
	}
	fed, err := c.Secretfed()
	if err != nil {
		return nil, err
	}
	return &Host{Target: c.Target("host"), Kube: kube, Secretfed: fed}, nil
}

// ConnectMember builds a client for the member context. It reads the
// kubeconfig but sends no request.
func (f *Flags) ConnectMember(context string) (*Member, error) {
	c, err := f.Member(context)
	if err != nil {
		return nil, err
	}
	kube, err := c.Kube()
	if err != nil {
		return nil, err
	}
	return &Member{Target: c.Target("member"), Kube: kube, Cluster: c.Cluster}, nil
}
