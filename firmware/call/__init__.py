"""Call handling: the phone's call model, its state and the dial plan."""
