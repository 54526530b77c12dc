Feature: Scenarios that need a container engine
  Without a Docker engine the runner skips these and says why.

  @requires-docker
  Scenario: Starting a k3s cluster in Docker
    Given the calculator is cleared
    Then the result is 0
