package views

// ChangeEmailForm changes the signed-in account's address.
type ChangeEmailForm struct {
	// Current is the account's address (it also feeds password managers).
	Current string
	// Email is the new address as typed.
	Email string
	// Pending describes an open change waiting for confirmation, if any
	// (the page only, not the fragment).
	Pending *PendingEmailChange
	Errors  Errors
	Focus   string
}

// PendingEmailChange is a requested change of address not yet confirmed.
type PendingEmailChange struct {
	NewEmail string
	// ExpiresAt is when its link stops working (UTC, for people).
	ExpiresAt string
}

// EmailConfirmState is the outcome a confirmation link's page shows.
type EmailConfirmState string

// The outcomes of opening a change-of-address link.
const (
	// EmailConfirmDone: the address changed (200).
	EmailConfirmDone EmailConfirmState = "done"
	// EmailConfirmInUse: another account has the address now; nothing
	// changed (409).
	EmailConfirmInUse EmailConfirmState = "in-use"
	// EmailConfirmInvalid: the link is unknown, used, superseded or
	// expired; nothing changed (410).
	EmailConfirmInvalid EmailConfirmState = "invalid"
)

// EmailConfirmResult is the page a change-of-address link leads to.
type EmailConfirmResult struct {
	State EmailConfirmState
	// Email is the account's new address (EmailConfirmDone).
	Email string
	// SignedIn is true when this browser stays signed in to the account
	// (EmailConfirmDone): the page then leads to the account, else to
	// sign-in.
	SignedIn bool
}
