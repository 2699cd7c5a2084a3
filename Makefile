test-unit:
	@true
