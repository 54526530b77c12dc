@misconfigured
Feature: Misconfiguration fails loudly
  A step nobody defined and a teardown that fails must both fail their scenario.

  Scenario: A step with a typo
    Given the calculater is cleared

  @teardown-fails
  Scenario: Cleanup that fails
    Given the calculator is cleared
