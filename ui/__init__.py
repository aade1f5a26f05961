"""What people see: the LCD screens (pure rendering from the phone's state)."""
