package email

// EmailChange is every change-of-address email (email_change.templ);
// each uses the fields it needs.
type EmailChange struct {
	// OldEmail is the address being replaced; NewEmail the one asked for.
	OldEmail string
	NewEmail string
	// Link confirms the change (ChangeConfirm only): BASE_URL + the
	// confirmation path + the code.
	Link string
	// ExpiresIn is human text ("24 hours"); ExpiresAt the absolute time
	// (UTC) when Link stops working.
	ExpiresIn string
	ExpiresAt string
	// When, IP and Device describe the step (request or confirmation).
	When   string
	IP     string
	Device string
	// NotMeURL starts the "this wasn't me" recovery (ChangeRequested
	// only): it cancels the change, locks the password, signs out every
	// session and starts a reset to the current address.
	NotMeURL string
}
