package v1alpha1

// Names shared by the server, the propagation loop, the CLI and users.
const (
	// SystemNamespace holds secretfed's own objects in the host and every member.
	SystemNamespace = "secretfed-system"

	// ManagedLabel marks a member Secret as owned by secretfed.
	ManagedLabel = "secretfed.io/managed"
	// ManagedNamespaceLabel marks a member namespace that secretfed created.
	ManagedNamespaceLabel = "secretfed.io/managed-namespace"
	// OrphanAnnotation on a FederatedSecret leaves member copies in place, unmanaged, on delete.
	OrphanAnnotation = "secretfed.io/orphan"
	// AdoptAnnotation on a FederatedSecret takes over a pre-existing unmanaged Secret.
	AdoptAnnotation = "secretfed.io/adopt"
	// PropagationFinalizer makes deletion wait until member copies are removed.
	PropagationFinalizer = "secretfed.io/propagation"
	// ClusterFinalizer makes FederatedCluster deletion wait until managed Secrets are removed from it.
	ClusterFinalizer = "secretfed.io/cluster"

	// CredentialsTokenKey is the key of the bearer token in a credentials FederatedSecret.
	CredentialsTokenKey = "token"

	// ConditionPropagated is True when every placed cluster holds the desired Secret.
	ConditionPropagated = "Propagated"
	// ConditionReady is the FederatedCluster health condition.
	ConditionReady = "Ready"

	ReasonAllClustersPropagated = "AllClustersPropagated"
	ReasonPropagationPending    = "PropagationPending"
	ReasonPropagationFailed     = "PropagationFailed"
	ReasonNoClustersPlaced      = "NoClustersPlaced"

	ReasonClusterReady        = "ClusterReady"
	ReasonClusterNotReady     = "ClusterNotReady"
	ReasonClusterNotReachable = "ClusterNotReachable"
	ReasonUnauthorized        = "Unauthorized"
	ReasonConfigMalformed     = "ConfigMalformed"
)

// Per-cluster propagation states reported in FederatedSecret status.
const (
	StatusPropagated              PropagationStatus = "Propagated"
	StatusClusterNotFound         PropagationStatus = "ClusterNotFound"
	StatusClusterNotReady         PropagationStatus = "ClusterNotReady"
	StatusNamespaceCreationFailed PropagationStatus = "NamespaceCreationFailed"
	StatusCreationFailed          PropagationStatus = "CreationFailed"
	StatusUpdateFailed            PropagationStatus = "UpdateFailed"
	StatusDeletionFailed          PropagationStatus = "DeletionFailed"
	StatusAlreadyExists           PropagationStatus = "AlreadyExists"
	StatusOverrideFailed          PropagationStatus = "OverrideFailed"
	StatusWaitingForRemoval       PropagationStatus = "WaitingForRemoval"
)
